"""Response caches kept in the store.

- Exact: a hash of the normalised request (target, messages, parameters, schema); entries
  expire after a TTL.
- Semantic (off by default): answers a new prompt with the reply to an earlier one only when
  everything but the last user message is identical (target, parameters, system prompt, earlier
  turns), the two prompts' embeddings are at least `threshold` similar, and they have the same
  signature: the same stemmed content words in the same order, framing words aside. Embeddings
  barely move when a sentence turns into its opposite ("X increases Y" / "X decreases Y" /
  "X does not increase Y"), so similarity alone would answer the opposite question. A prompt
  with no word to judge it by (an empty signature) is answered by the exact cache only.

Both are kept per scope (`models/_call.py`, `Call.cache_target`): route, tenant and what the
caller may read, so that a reply made for one reader's prompt never serves another's."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from typing import TYPE_CHECKING, Any

import regex  # type: ignore[import-untyped]  # no py.typed, types-regex is not installed

from .embedding import recall_scope
from .types import ChatRequest, ChatResult, Usage

if TYPE_CHECKING:  # the contract only, never a backend (tests/test_public_api.py)
    from ..analysis import Analyzer
    from ..store.contract import CacheStore
    from ..store.contract.data import Quoted

NAMESPACE = "gateway"


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").strip().split("\n"))


def request_key(target: str, request: ChatRequest, *, without_last_user: bool = False) -> str:
    messages: list[Any] = [(m.role, _norm(m.content)) for m in request.messages]
    if without_last_user and messages and messages[-1][0] == "user":
        messages = messages[:-1]
    payload: dict[str, Any] = {
        "target": target,
        "messages": messages,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "schema": request.json_schema,
        "stop": list(request.stop),
    }
    if request.has_tools:  # the tools offered, and every call and result, decide the reply as much as the text
        payload["messages"] = [
            [m.role, _norm(m.content), [[c.name, c.raw_arguments] for c in m.tool_calls], m.tool_call_id, m.error]
            for m in request.messages
        ]
        payload["tools"] = [[t.name, t.description, t.parameters] for t in request.tools]
        payload["tool_choice"] = request.tool_choice
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _dump(result: ChatResult) -> str:
    return json.dumps(
        {
            "text": result.text,
            "model": result.model,
            "finish_reason": result.finish_reason,
            "usage": result.usage.to_dict(),
        }
    )


def _load(raw: str) -> ChatResult:
    data = json.loads(raw)
    return ChatResult(
        text=data["text"],
        model=data["model"],
        usage=Usage(**data["usage"]),
        finish_reason=data.get("finish_reason", ""),
        cached=True,
    )


class ExactCache:
    def __init__(self, store: CacheStore, ttl_s: float) -> None:
        self.store = store
        self.ttl_s = ttl_s

    def get(self, target: str, request: ChatRequest) -> ChatResult | None:
        raw = self.store.cache_get(NAMESPACE, request_key(target, request))
        return _load(raw) if raw else None

    def put(self, target: str, request: ChatRequest, result: ChatResult, sources: Quoted = ()) -> tuple[str, str]:
        """`sources`: the documents quoted in the request (doc_id -> version read): the entry goes
        with them, and is not kept when one was deleted or replaced while the reply was made."""
        key = request_key(target, request)
        self.store.cache_put(NAMESPACE, key, _dump(result), self.ttl_s, sources=sources)
        return NAMESPACE, key


_FRAMING = frozenset(
    [
        "true",
        "truth",
        "tell",
        "please",
        "whether",
        "know",
        "question",
        "correct",
        "fact",
        "claim",
        "say",
        "explain",
        "can",
        "could",
        "would",
        "you",
        "me",
        "i",
        "my",
        "we",
        "our",
        "do",
        "does",
        "did",
        "is",
        "are",
        "was",
        "were",
        "it's",
    ]
)
_LOGIC = {
    "not": "not",
    "no": "not",
    "never": "not",
    "none": "not",
    "nor": "not",
    "neither": "not",
    "without": "without",
    "and": "and",
    "or": "or",
    "but": "but",
    "if": "if",
}  # kept: they flip meaning
# Negations of other languages, as separate words: kept as they are, never stemmed or dropped
# (an unlisted one is a content word, so its presence alone changes the signature too). Not
# made "not": "non", "pas" or "nie" in an English prompt would then equal a "not" elsewhere
# ("X in non-diabetic patients" / "X not in diabetic patients").
_NOT_WORDS = (
    "не нет ни никогда ні немає ніколи nicht kein keine keinen keinem keiner keines nie niemals pas "
    "non jamais aucun aucune nunca jamás ningún ninguna ninguno tampoco mai nessuno nessuna não "
    "nenhum nenhuma niet geen nooit nigdy nikdy inte ikke aldrig aldri değil nem sem soha δεν μην όχι "
    "לא אין لا لم لن ليس नहीं मत"
)
_NOT = frozenset(_NOT_WORDS.split())
# Words in every script, combining marks included (Devanagari's vowel signs are not \w): the
# guard once read only [a-z0-9], and every Cyrillic, Greek or CJK prompt had the empty signature.
# A run of CJK characters is one word: the guard then asks for the same run, exact but safe.
_WORD = regex.compile(r"[\p{L}\p{N}][\p{L}\p{M}\p{N}]*(?:'[\p{L}\p{M}\p{N}]+)*")


def signature(text: str) -> tuple[str, ...]:
    """The stemmed content words of a text, in order, with negations and connectives kept and
    framing words ("is it true that") dropped. Two prompts may share an answer only when their
    signatures are equal (and not empty): embeddings rate "X increases Y" and "X decreases Y"
    0.999 similar, and "X is not Y" and "X is Y" 0.94, and SciFact is full of such pairs. Words
    outside ASCII are kept whole: the stemmer and stop list are English, and the analyzer's
    tokens would drop combining marks ("है" and "हो" would both be "ह")."""
    analyzer = _analyzer()
    out = []
    for word in _WORD.findall(text.lower().replace("\u2019", "'").replace("\u2018", "'")):
        if word in _LOGIC or word.endswith("n't"):
            out.append(_LOGIC.get(word, "not"))
        elif word in _NOT:
            out.append(word)
        elif word not in _FRAMING:
            out.extend(analyzer.terms(word) if word.isascii() else [word])
    return tuple(out)


@functools.cache
def _analyzer() -> Analyzer:
    """Made on first use: the exact cache alone needs no stemmer."""
    from ..analysis import Analyzer

    return Analyzer()


class SemanticCache:
    def __init__(
        self, store: CacheStore, embedder: Any, threshold: float, ttl_s: float, max_entries: int = 2000
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.threshold = threshold
        self.ttl_s = ttl_s
        self.max_entries = max_entries

    @staticmethod
    def _prompt(request: ChatRequest) -> str | None:
        last = request.messages[-1] if request.messages else None
        return _norm(last.content) if last is not None and last.role == "user" else None

    def get(self, target: str, request: ChatRequest) -> tuple[ChatResult, float] | None:
        import numpy as np

        prompt = self._prompt(request)
        sign = signature(prompt) if prompt is not None else ()
        if prompt is None or not sign:  # nothing to judge two prompts by but their embeddings: exact only
            return None
        namespace = self._namespace(target, request)
        entries = self.store.cache_scan(namespace, self.max_entries)
        if not entries:
            return None
        rows = [json.loads(v) for _, v in entries]
        matrix = np.stack([np.frombuffer(base64.b64decode(r["vector"]), dtype=np.float32) for r in rows])
        sims = matrix @ self._embed(namespace, prompt)
        for i in np.argsort(-sims):
            if sims[i] < self.threshold:
                break
            if signature(rows[i]["prompt"]) == sign:
                return _load(rows[i]["reply"]), float(sims[i])
        return None

    def put(
        self, target: str, request: ChatRequest, result: ChatResult, sources: Quoted = ()
    ) -> tuple[str, str] | None:
        """As ExactCache.put; a prompt with no word to judge it by is not kept."""
        import numpy as np

        prompt = self._prompt(request)
        if prompt is None or not signature(prompt):  # it could only ever be found exactly
            return None
        namespace, key = self._namespace(target, request), hashlib.sha256(prompt.encode()).hexdigest()
        vector = np.asarray(self._embed(namespace, prompt), dtype=np.float32)
        value = json.dumps(
            {"prompt": prompt, "vector": base64.b64encode(vector.tobytes()).decode(), "reply": _dump(result)}
        )
        self.store.cache_put(namespace, key, value, self.ttl_s, sources=sources)
        return namespace, key

    def _embed(self, namespace: str, prompt: str) -> Any:
        """The prompt's vector, remembered for this namespace (route, tenant, reader) only: a
        remembered prompt embeds in microseconds, a new one in milliseconds, which would tell one
        reader what another sent (review 14)."""
        with recall_scope(namespace):
            return self.embedder.embed([prompt])[0]

    def _namespace(self, target: str, request: ChatRequest) -> str:
        """Per vector space too: entries another embedder wrote (a standalone Gateway's packaged
        graph, a remote model of another size) are never compared with this one's vectors."""
        space = hashlib.sha256(str(getattr(self.embedder, "name", "")).encode()).hexdigest()[:12]
        return f"semantic:{space}:" + request_key(target, request, without_last_user=True)
