"""`privacy = "redact"` on a model: what is sent to it is pseudonymised first, what comes back
is restored before anyone sees it.

One `CallPrivacy` per gateway call, so the same value gets the same placeholder in every message
and on every attempt (`<EMAIL_ADDRESS_1>` in the question and in the retrieved passage alike),
and the model's echo of a placeholder turns back into the value. The detectors are the guard's
(see ragwright.guard, handed in as a `Redaction`: models/guards.py), run offline and only when a
call reaches such a model."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from .guards import Redaction
from .types import ChatRequest, ToolCall


class CallPrivacy:
    def __init__(self, redaction: Redaction) -> None:
        self.redaction = redaction
        self._requests: dict[tuple[str, ...], ChatRequest] = {}

    def request(self, request: ChatRequest, entities: Sequence[str]) -> ChatRequest:
        """The request as a model with these private entities may see it (made once per set)."""
        key = tuple(sorted(entities))
        if key not in self._requests:
            messages = tuple(
                replace(
                    m,
                    content=self.redaction.redact(m.content, key),
                    tool_calls=tuple(
                        ToolCall.parse(c.id, c.name, self.redaction.redact(c.raw_arguments, key)) for c in m.tool_calls
                    ),
                )
                for m in request.messages
            )
            self._requests[key] = replace(request, messages=messages)
        return self._requests[key]

    def restore(self, text: str) -> str:
        return self.redaction.restore(text)

    def restore_calls(self, calls: tuple[ToolCall, ...]) -> tuple[ToolCall, ...]:
        """A model's tool calls with the values behind its placeholders back in their arguments."""
        return tuple(ToolCall.parse(c.id, c.name, self.restore(c.raw_arguments)) for c in calls)

    def restore_stream(self, pieces: Iterable[str]) -> Iterator[str]:
        return self.redaction.restore_stream(pieces)
