"""`privacy = "redact"` on a model: what is sent to it is pseudonymised first, what comes back
is restored before anyone sees it.

One `CallPrivacy` per gateway call, so the same value gets the same placeholder in every message
and on every attempt (`<EMAIL_ADDRESS_1>` in the question and in the retrieved passage alike),
and the model's echo of a placeholder turns back into the value. The PII detector runs offline
(see ragwright.guard) and only when a call reaches such a model."""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Iterator, Sequence

from .types import ChatMessage, ChatRequest

class CallPrivacy:
    def __init__(self) -> None:
        from ..guard.redact import Pseudonymizer

        self.pseudonyms = Pseudonymizer()
        self._requests: dict[tuple[str, ...], ChatRequest] = {}

    def request(self, request: ChatRequest, entities: Sequence[str]) -> ChatRequest:
        """The request as a model with these private entities may see it (made once per set)."""
        key = tuple(sorted(entities))
        if key not in self._requests:
            messages = tuple(ChatMessage(m.role, self.text(m.content, key)) for m in request.messages)
            self._requests[key] = replace(request, messages=messages)
        return self._requests[key]

    def text(self, text: str, entities: Sequence[str]) -> str:
        from ..guard.pii import default_detector
        from ..guard.redact import find_secrets

        wanted = set(entities)
        spans = [s for s in default_detector().scan(text) if s.label in wanted]
        if "SECRET" in wanted:
            spans += find_secrets(text)
        return self.pseudonyms.pseudonymize(text, spans) if spans else text

    def restore(self, text: str) -> str:
        return self.pseudonyms.restore(text)

    def restore_stream(self, pieces: Iterable[str]) -> Iterator[str]:
        return self.pseudonyms.restore_stream(pieces)


def transcript(request: ChatRequest) -> str:
    return "\n".join(f"{m.role}: {m.content}" for m in request.messages)
