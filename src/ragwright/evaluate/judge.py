"""A model as a judge, made repeatable: temperature 0, a bounded number of concurrent calls, and
every reply cached by (model, prompt) in the store, so a re-run repeats each score exactly and
makes no calls. A reply that cannot be understood, a timeout or an error is a reason, never a
score: the caller records the case as unmeasured."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import RagwrightError
from ..models.chat import ChatMessage, ChatModel, GatewayChat
from ..store.contract import CacheStore

CACHE_NAMESPACE = "judge"
_JSON_OBJECT = re.compile(r"\{.*\}", re.S)


KeyValueCache = CacheStore  # verdicts are kept in the store's keyed cache, for good


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judge's parsed answer, or why there is none."""

    value: Any = None
    reason: str = ""  # set when value is None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return not self.reason


class Judge:
    def __init__(
        self, model: ChatModel, cache: KeyValueCache | None = None, *, concurrency: int = 4, max_tokens: int = 64
    ) -> None:
        self.model = model
        self.cache = cache
        self.concurrency = max(1, concurrency)
        self.max_tokens = max_tokens
        self.calls = 0  # calls that reached the model (cache misses)

    @property
    def identity(self) -> str:
        return f"{self.model.name}:{getattr(self.model, 'model', '')}"

    def ask_json(self, prompts: Sequence[str], field: str, allowed: Sequence[Any]) -> list[Verdict]:
        """Send each prompt; read `field` from the JSON object in the reply; it must be one of `allowed`.
        Where the model can be constrained to a JSON schema (the gateway's models can), it is."""
        kind = {"type": "boolean"} if all(isinstance(a, bool) for a in allowed) else {"enum": list(allowed)}
        schema = {"type": "object", "properties": {field: kind}, "required": [field]}
        with ThreadPoolExecutor(self.concurrency) as pool:
            replies = list(pool.map(lambda p: self._reply(p, schema), prompts))
        return [self._parse(reply, field, allowed) for reply in replies]

    def _reply(self, prompt: str, schema: dict[str, Any] | None = None) -> Verdict:
        messages = [
            ChatMessage("system", "You are a careful evaluator. Reply with one JSON object only."),
            ChatMessage("user", prompt),
        ]
        key = hashlib.sha256(
            json.dumps(
                [self.identity, [(m.role, m.content) for m in messages], 0.0, self.max_tokens, schema], sort_keys=True
            ).encode()
        ).hexdigest()
        if self.cache is not None:
            hit = self.cache.cache_get(CACHE_NAMESPACE, key)
            if hit is not None:
                return Verdict(value=hit, cached=True)
        try:
            self.calls += 1
            if schema is not None and isinstance(self.model, GatewayChat):  # the one that takes a schema
                text = self.model.complete(
                    messages, temperature=0.0, max_tokens=self.max_tokens, json_schema=schema
                ).text
            else:
                text = self.model.complete(messages, temperature=0.0, max_tokens=self.max_tokens).text
        except RagwrightError as exc:  # timeouts, refusals, unreachable servers: not cached, retried next run
            return Verdict(reason=f"judge call failed: {_short(str(exc))}")
        if self.cache is not None:
            self.cache.cache_put(CACHE_NAMESPACE, key, text)
        return Verdict(value=text)

    @staticmethod
    def _parse(reply: Verdict, field: str, allowed: Sequence[Any]) -> Verdict:
        if not reply.ok:
            return reply
        text = str(reply.value)
        match = _JSON_OBJECT.search(text)
        try:
            data = json.loads(match.group(0)) if match else None
        except ValueError:
            data = None
        if not isinstance(data, dict) or field not in data:
            return Verdict(
                reason=f"judge reply not understood (no JSON '{field}'): {_short(text)}", cached=reply.cached
            )
        value = data[field]
        if isinstance(value, str):
            by_lower = {str(a).lower(): a for a in allowed}
            value = by_lower.get(value.strip().lower(), value)
        if value not in allowed:
            return Verdict(
                reason=f"judge gave {field}={_short(repr(value))}, not one of {list(allowed)}", cached=reply.cached
            )
        return Verdict(value=value, cached=reply.cached)


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
