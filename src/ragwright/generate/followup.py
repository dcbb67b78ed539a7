"""A follow-up question made standalone before retrieval: "What happens if its maxsize is None?"
after a question about `functools.lru_cache` retrieves nothing about lru_cache on its own.

With a chat model (`[answer] model`), the model rewrites the question from the conversation
(temperature 0, a short reply); on any model error, or an empty or overlong reply, the rewrite
falls back to a deterministic carry-over, which is also what runs when there is no model:

- A follow-up is a question with a pronoun whose referent is not in it ("its maxsize", "can
  they", "this option"), an ellipsis ("And for part-time staff?", "What about json.loads?"), or
  a short question about an aspect of something unnamed ("What is the default?", "Why?", "What
  happens when the timeout expires?").
- The subject carried over is the previous question's (itself made standalone first): its code
  identifiers (`functools.lru_cache`) and its runs of content words ("vacation days", "named
  Docker volume"). A lone pronoun is replaced by a lone identifier ("What happens if
  functools.lru_cache's maxsize is None?"); an ellipsis continues the previous question, a new
  name taking the place of the old one ("How do I list tables in MySQL?" + "And in PostgreSQL?"
  -> "How do I list tables in PostgreSQL?"); otherwise the subject is added in brackets.
- A standalone question is left as it is.

No library does this without a model (coreference resolvers such as fastcoref need one and
resolve within one text, not a question against the previous one). Measured on the labelled
follow-ups of tests/generate/test_followup.py (the page the hand-written standalone question
retrieves first): on 20 short technical pages, the raw follow-up finds it for 6 of 16, the
carry-over for 16 of 16; on the sample corpus, a set written after the rules (and measured
before any change for it at 12 of 14), the raw follow-up 9 of 14, the carry-over 14 of 14.
Standalone questions after an unrelated one are left unchanged (6 of 6).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..errors import ModelError
from ..models.chat import ChatModel, GatewayChat
from ..models.types import ChatMessage
from .screening import screen, screen_turns

Method = Literal["unchanged", "carry-over", "model"]
MAX_TURNS = 8  # user turns read for the carry-over; the model sees the last MAX_MODEL_TURNS turns
MAX_MODEL_TURNS = 6
TURN_CHARS = 600  # of each turn shown to the model: answers can be long, their subject is early
REPLY_TOKENS = 96


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_TOKEN = re.compile(r"`[^`\n]+`|[A-Za-z0-9_][\w.+#/-]*(?:\(\))?")
_STOP = _words(
    "a an the and or but if of on in into at by for from with without to as than then so too also very is are "
    "was were be been being am do does did done doing have has had having can could should would will shall may "
    "might must not no yes i me my we our us you your there here what which who whom whose when where why how "
    "s t any some all each every more most much many other another such only just about over under again still "
    "way ways thing things get gets got make makes made use uses used using want need happen happens happened "
    "work works mean means else ok okay please tell explain show give know say said"
)
# Words that ask about an aspect of something rather than name it: "What is the default?"
_ASPECT = _words(
    "default defaults example examples limit limits maximum minimum max min difference differences alternative "
    "alternatives reason reasons syntax signature type types return returns value values size version versions "
    "performance purpose option options parameter parameters argument arguments usage error errors exception "
    "exceptions cost costs price benefit benefits downside downsides drawback drawbacks advantage advantages risk "
    "risks requirement requirements rule rules behaviour behavior format output input result results timeout "
    "config configuration setting settings flag flags case cases step steps detail details instead same better "
    "faster slower safe possible recommended best good bad true false important necessary required long often "
    "total"
)
_PRONOUNS = _words("it its itself they them their theirs themselves these those this he she him his her ones")
_SUBJECTS = _words("i you we")
_DEMONSTRATIVE = _words("this that these those")
_AUX = _words("is are was were does do did can could should would will has have means mean work works happen happens")
# Nouns a demonstrative points with: "this function" is the subject, named.
_NOUNS = _words(
    "function method option flag setting parameter argument command module class feature tool "
    "library package decorator field property attribute approach mode table index key variable "
    "object call statement clause query extension plugin endpoint image container volume service "
    "one"
)
_EXPLETIVE = _words(
    "possible necessary safe ok okay recommended better best true bad good advisable required "
    "mandatory allowed worth hard easy faster slower important"
)
_LEAD = re.compile(
    r"^\s*(?:and|or|but|also|plus|then|so|likewise|what about|how about|same (?:for|with|in))\b"
    r"[\s,]*",
    re.IGNORECASE,
)
_TAIL = re.compile(r"\b(?:too|as well|instead|then)\Z", re.IGNORECASE)  # at the end of _split_end's body


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier message of the conversation."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Rewrite:
    """The question retrieval uses (`question`), what was asked (`original`), and how it came."""

    question: str
    original: str
    method: Method
    note: str = ""  # why a model's rewrite was not used, when it was not
    screened: dict[str, Any] | None = None  # the original question's verdict, when a policy is on

    def trace_fields(self) -> dict[str, str]:
        fields = {"rewritten_question": self.question, "rewrite": self.method}
        return {**fields, "rewrite_note": self.note} if self.note else fields


def standalone_question(
    question: str,
    history: Sequence[Turn],
    model: ChatModel | None = None,
    *,
    max_chars: int = 4000,
    injection: str = "off",
) -> Rewrite:
    """`question` made standalone from the conversation before it (`history`, oldest first).
    `injection`: [answer] injection over the question and the turns the model reads (read_turns).
    The question is checked here as an ask without a history checks it (screening.screen: refused
    under block, its verdict a "guard.injection" span of the trace), before the rewriter's prompt
    quotes it: the answerer checks only the rewrite, and a question with any history went to the
    answer model unread (review 16, finding C)."""
    question = question.strip()
    if len(question) > max_chars:  # the ask refuses it for its length: neither read nor sent
        return Rewrite(question, question, "unchanged")
    screened = screen(question, [], injection).report.get("question") if question else None
    turns, dropped = read_turns(history, injection)
    if dropped:  # the carry-over goes without them too
        history = [t for i, t in enumerate(history) if i not in dropped]
    fallback = replace(carry_over(question, history, max_chars=max_chars), screened=screened)
    if model is None or not question or not any(t.role == "user" for t in turns):
        return fallback
    try:
        reply = _uncached(model).complete(_prompt(question, turns), temperature=0.0, max_tokens=REPLY_TOKENS).text
    except ModelError as exc:
        return _noted(fallback, f"the model failed ({type(exc).__name__}); carried over instead")
    text = _cleaned(reply)
    if not text or len(text) > min(max_chars, 2 * len(question) + 200):
        return _noted(fallback, "the model's rewrite was empty or too long; carried over instead")
    return Rewrite(text, question, "model" if text != question else "unchanged", screened=screened)


def carry_over(question: str, history: Sequence[Turn], *, max_chars: int = 4000) -> Rewrite:
    """The deterministic rewrite: each earlier user question made standalone in turn, so that a
    third question still reaches the first one's subject. Linear in what it reads: at most
    MAX_TURNS turns of `max_chars` each (a history turn may be 20,000 characters; 8 of them once
    cost ~105 s of CPU an ask), and nothing of a question over `max_chars`."""
    question = question.strip()
    if not question or len(question) > max_chars:  # nothing asked, or too much: the ask refuses it as it is
        return Rewrite(question, question, "unchanged")
    previous: str | None = None
    frame: str | None = None  # the last question that was not an ellipsis: what an ellipsis continues
    for turn in [t for t in history if t.role == "user" and t.content.strip()][-MAX_TURNS:]:
        asked = turn.content.strip()[:max_chars]  # an earlier question, read as far as a question may go
        previous = _rewrite(asked, previous, frame)
        frame = frame if _elliptical(asked) and frame else previous
    rewritten = _rewrite(question, previous, frame)
    if rewritten == question or len(rewritten) > max_chars:
        return Rewrite(question, question, "unchanged")
    return Rewrite(rewritten, question, "carry-over")


def _uncached(model: ChatModel) -> ChatModel:
    """The rewriter's calls are not cached. Its prompt is the conversation, whose answers quote
    documents, but a history is text the client sends back (no citations, no document ids), so
    its cached replies could be tied to no document: a deleted document's text stayed in the
    exact cache (a rewritten question quoting it) and the semantic one (the conversation). A
    conversation is rarely sent twice word for word, so the cache saved little: a follow-up
    costs one short model call (at most REPLY_TOKENS) each time."""
    return model.uncached() if isinstance(model, GatewayChat) else model


def _noted(rewrite: Rewrite, note: str) -> Rewrite:
    return replace(rewrite, note=note)


# -- the deterministic rewrite -------------------------------------------------------------------


def _rewrite(question: str, previous: str | None, frame: str | None) -> str:
    if previous is None:
        return question
    tokens = _tokens(question)
    if _elliptical(question) and frame:
        return _continued(question, frame)
    anaphors = _anaphors(tokens)
    if not anaphors and not _only_aspect(tokens):
        return question
    code, phrases = _subject(previous, {t.lower() for t in tokens})
    if len(anaphors) == 1 and len(code) == 1:
        return _substituted(question, tokens, anaphors[0], code[0])
    if not code and not phrases:
        return question
    body, end = _split_end(question)
    return f"{body} ({', '.join(code + phrases)}){end}"


def _tokens(text: str) -> list[str]:
    return [t.rstrip(".") or t for t in _TOKEN.findall(text)]


def _is_code(token: str) -> bool:
    """A code identifier: `x`, lru_cache, json.dumps, f(), std::vector, initialDelaySeconds."""
    core = token.strip("`")
    return (
        token.startswith("`")
        or "_" in core
        or "." in core
        or core.endswith("()")
        or "::" in core
        or bool(re.match(r"[a-z]+[A-Z]", core))
    )


def _is_name(token: str, position: int) -> bool:
    """A code identifier or a name: HTTP, PostgreSQL, or a word capitalised inside the sentence
    (position > 0)."""
    return _is_code(token) or (len(token) > 1 and (token.isupper() or (position > 0 and token[:1].isupper())))


def _content(token: str) -> bool:
    return token.lower() not in _STOP and not token.isdigit() and len(token) > 1


def _anaphors(tokens: list[str]) -> list[int]:
    """Positions of pronouns whose referent is not in the question before them."""
    found = []
    for i, token in enumerate(tokens):
        word = token.lower()
        if i and _is_name(tokens[i - 1], i - 1):
            break  # "Does json.dumps sort keys, and can it indent?": it is json.dumps (and so is what follows)
        nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else None
        prev = tokens[i - 1].lower() if i else None
        if word == "it" and (
            {nxt, prev} & _EXPLETIVE or (nxt in _AUX and i + 2 < len(tokens) and tokens[i + 2].lower() in _EXPLETIVE)
        ):
            continue  # "Is it possible to ...": it stands for nothing
        if word == "that" and not (nxt is None or nxt in _AUX or nxt in _ASPECT or nxt in _NOUNS or prev in _AUX):
            continue  # "that" as a conjunction: "does it say that the cache ..."
        if word in _PRONOUNS or word == "that":
            found.append(i)
    return found


def _only_aspect(tokens: list[str]) -> bool:
    """A short question about an aspect of something unnamed: "What is the default?", "Why?",
    "What happens when the timeout expires?"."""
    if any(_is_name(t, i) for i, t in enumerate(tokens)):
        return False
    content = [t.lower() for t in tokens if _content(t)]
    definite = any(a.lower() == "the" and b.lower() in _ASPECT for a, b in itertools.pairwise(tokens))
    return (len(content) <= 2 and all(w in _ASPECT for w in content)) or (definite and len(content) <= 3)


def _elliptical(question: str) -> bool:
    return bool(_LEAD.match(question) or _TAIL.search(_split_end(question)[0]))


def _subject(previous: str, present: set[str]) -> tuple[list[str], list[str]]:
    """What the previous question was about, less what the question says already: its code
    identifiers (at most three), and its runs of content words (at most five words in all)."""
    tokens = _tokens(previous)
    code = list(dict.fromkeys(t for t in tokens if _is_code(t) and t.lower() not in present))[:3]
    runs: list[list[str]] = [[]]
    for i, t in enumerate(tokens):
        verb = i > 0 and tokens[i - 1].lower() in _SUBJECTS  # "do I create": create is what is done
        if _content(t) and t.lower() not in _ASPECT and not verb and not _is_code(t):
            runs[-1].append(t)
        elif runs[-1]:
            runs.append([])
    phrases: list[str] = []
    words = 0
    for run in runs:
        if run and not all(w.lower() in present for w in run) and words + len(run) <= 5:
            phrases.append(" ".join(run))
            words += len(run)
    return code, phrases


def _substituted(question: str, tokens: list[str], index: int, subject: str) -> str:
    """The anaphor at token `index` replaced by the identifier `subject` ("its" -> "lru_cache's";
    "this function" -> "lru_cache")."""
    word = tokens[index]
    match = [m for m in _TOKEN.finditer(question) if m.group().rstrip(".") == word][tokens[:index].count(word)]
    start, rest = match.start(), question[match.start() + len(word) :]
    following = re.match(r"\s+[\w-]+", rest)
    if following and word.lower() in _DEMONSTRATIVE and following.group().strip().lower() in _NOUNS:
        rest = rest[following.end() :]
    return question[:start] + (subject + "'s" if word.lower() in ("its", "their") else subject) + rest


def _continued(question: str, frame: str) -> str:
    """An ellipsis continues the question it follows; a single new name replaces a single old one."""
    tail = _LEAD.sub("", question).strip()
    new = [t for i, t in enumerate(_tokens(tail)) if _is_name(t, i + 1)]
    old = list(dict.fromkeys(t for i, t in enumerate(_tokens(frame)) if _is_name(t, i)))
    if len(new) == 1 and len(old) == 1 and new[0] != old[0]:
        return re.sub(rf"(?<![\w.]){re.escape(old[0])}(?![\w])", new[0], frame, count=1)
    body, _ = _split_end(frame)
    question = question.strip()
    return f"{body} — {question[:1].lower() + question[1:]}"


def _split_end(text: str) -> tuple[str, str]:
    """The text before its closing punctuation, and that punctuation ("?" if none). Stripped from
    the end rather than searched for: a regex search for spaces, punctuation, spaces and the end
    tried every start in a run of spaces with every split of it (cubic: 70 s of CPU for a
    question with 4,000 spaces inside)."""
    body = text.rstrip().rstrip("?.!").rstrip()
    return body, text[len(body) :].strip() or "?"


# -- the model's rewrite ---------------------------------------------------------------------------

_INSTRUCTIONS = (
    "Rewrite the user's last question so that it can be understood without the conversation: "
    "replace pronouns and references with what they refer to, and add the subject it continues. "
    "Keep its meaning, language and wording otherwise; do not answer it. If it is already "
    "standalone, repeat it unchanged. Reply with the rewritten question only, on one line."
)


def model_turns(history: Sequence[Turn]) -> list[tuple[int, Turn]]:
    """What a model reads of a conversation (the rewriter's prompt, an agent's messages), each turn
    with its index in `history`: the last MAX_MODEL_TURNS turns that say something, each clipped
    to TURN_CHARS. Bounded, so that screening them costs little (6 x 600 characters: ~0.1 s)."""
    said = [(i, t) for i, t in enumerate(history) if t.content.strip()][-MAX_MODEL_TURNS:]
    return [(i, Turn(t.role, _clip(t.content))) for i, t in said]


def read_turns(history: Sequence[Turn], injection: str = "off") -> tuple[list[Turn], Collection[int]]:
    """The turns a model reads of `history` (model_turns) under [answer] injection `injection`
    (screening.screen_turns: a flagged turn refuses the ask under block, is left out under drop),
    and the indices in `history` of those left out."""
    window = model_turns(history)
    dropped = screen_turns([(i, t.role, t.content) for i, t in window], injection)
    return [t for i, t in window if i not in dropped], dropped


def _prompt(question: str, turns: Sequence[Turn]) -> list[ChatMessage]:
    lines = [f"{'User' if t.role == 'user' else 'Assistant'}: {t.content}" for t in turns]
    conversation = "\n".join(lines)
    return [
        ChatMessage("system", _INSTRUCTIONS),
        ChatMessage("user", f"Conversation:\n{conversation}\n\nLast question: {question}\n\nStandalone question:"),
    ]


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TURN_CHARS else text[:TURN_CHARS] + "…"


def _cleaned(reply: str) -> str:
    """The first line of the reply without a label or quotes around it."""
    line = next((ln.strip() for ln in reply.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^(?:standalone|rewritten)?\s*question\s*:\s*", "", line, flags=re.IGNORECASE)
    return line.strip().strip("\"'`\u201c\u201d\u2018\u2019").strip()
