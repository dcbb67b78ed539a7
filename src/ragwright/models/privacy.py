"""`privacy = "redact"` on a model: what is sent to it is pseudonymised first, what comes back
is restored before anyone sees it.

One `CallPrivacy` per gateway call, so the same value gets the same placeholder in every message
and on every attempt (`<EMAIL_ADDRESS_1>` in the question and in the retrieved passage alike),
and the model's echo of a placeholder turns back into the value. The detectors are the guard's
(see ragwright.guard, handed in as a `Redaction`: models/guards.py), run offline and only when a
call reaches such a model.

Everything of a request that is text goes out redacted: the messages, the tool calls and results
in them, the tools offered (descriptions, and every string of their parameter schemas but the
structural ones, since a client writes enum values, defaults and examples from its own data), a
structured output's schema and the stop sequences. Names stay: a tool's name, `tool_choice` and
`schema_name` are identifiers (tools.NAME), and property names are the keys the reply must use.
The caller's own tools and schema, not these copies, check what the model returns."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from ..errors import QuestionError
from .guards import Redaction
from .tools import Tool
from .types import ChatRequest, ToolCall

# JSON-schema keywords whose strings are structure, not prose: types, formats, references, the
# names of required properties, and patterns (a regex with a placeholder in it would no longer say
# what it said). Keys are never redacted either: they are property names and keywords. Only a
# string (or a list of strings) is kept: a property that happens to be called "type" has a schema.
STRUCTURAL = frozenset(
    {"type", "format", "$ref", "$schema", "$id", "$anchor", "$dynamicRef", "required", "pattern", "propertyNames"}
)
SEAM = "\n\n-----\n\n"  # between the texts redact_all joins: a paragraph break no entity spans
# Keywords whose value is data, not schema: every string inside is redacted, under any key.
DATA = frozenset({"default", "enum", "const", "examples", "example"})


def redact_schema(value: Any, redact: Callable[[str], str], data: bool = False) -> Any:
    """A JSON schema (or any JSON value) with every string redacted but those of STRUCTURAL keywords."""
    if isinstance(value, str):
        return redact(value) if value else value
    if isinstance(value, list):
        return [redact_schema(v, redact, data) for v in value]
    if not isinstance(value, dict):
        return value
    return {
        k: v if not data and _structural(k, v) else redact_schema(v, redact, data or k in DATA)
        for k, v in value.items()
    }


def _structural(key: str, value: Any) -> bool:
    strings = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    return key in STRUCTURAL and strings


class CallPrivacy:
    """`max_chars`: the most text one call may ask to redact ([gateway] redact_max_chars). The name
    tagger costs ~0.1-1 ms a token, so a 1 MB chat body sent to a redacting model would hold a
    worker for minutes: refused before any work, naming the setting."""

    def __init__(self, redaction: Redaction, max_chars: int | None = None) -> None:
        self.redaction = redaction
        self.max_chars = max_chars
        self._requests: dict[tuple[str, ...], ChatRequest] = {}

    def request(self, request: ChatRequest, entities: Sequence[str]) -> ChatRequest:
        """The request as a model with these private entities may see it (made once per set)."""
        key = tuple(sorted(entities))
        if key not in self._requests:
            found: list[str] = []  # the request's texts beside its messages, redacted in one pass

            def collect(text: str) -> str:
                found.append(text)
                return text

            _surroundings(request, collect)
            self._check_size(request, found)

            def redact(text: str) -> str:
                return self.redaction.redact(text, key)

            messages = tuple(
                replace(
                    m,
                    content=redact(m.content),
                    tool_calls=tuple(ToolCall.parse(c.id, c.name, redact(c.raw_arguments)) for c in m.tool_calls),
                )
                for m in request.messages
            )
            redacted = iter(redact_all(found, redact))
            self._requests[key] = replace(
                request, messages=messages, **_surroundings(request, lambda _text: next(redacted))
            )
        return self._requests[key]

    def _check_size(self, request: ChatRequest, surroundings: list[str]) -> None:
        if self.max_chars is None:
            return
        texts = [t for m in request.messages for t in (m.content, *(c.raw_arguments for c in m.tool_calls))]
        chars = sum(map(len, texts)) + sum(map(len, surroundings))
        if chars > self.max_chars:
            raise QuestionError(
                f'this call would send {chars:,} characters to a model with privacy = "redact"; at most '
                f"{self.max_chars:,} are redacted per call ([gateway] redact_max_chars): shorten the "
                "conversation or the text, or raise the setting"
            )

    def restore(self, text: str) -> str:
        return self.redaction.restore(text)

    def restore_calls(self, calls: tuple[ToolCall, ...]) -> tuple[ToolCall, ...]:
        """A model's tool calls with the values behind its placeholders back in their arguments."""
        return tuple(ToolCall.parse(c.id, c.name, self.restore(c.raw_arguments)) for c in calls)

    def restore_stream(self, pieces: Iterable[str]) -> Iterator[str]:
        return self.redaction.restore_stream(pieces)


def _surroundings(request: ChatRequest, each: Callable[[str], str]) -> dict[str, Any]:
    """The request's text beside its messages, each string passed through `each`: the tools (as
    the provider is shown them, without their Pydantic models, which only check replies, against
    the caller's tools), the structured output's schema and the stop sequences."""
    return {
        "tools": tuple(Tool(t.name, each(t.description), redact_schema(t.parameters, each)) for t in request.tools),
        "json_schema": None if request.json_schema is None else redact_schema(request.json_schema, each),
        "stop": tuple(each(s) for s in request.stop),
    }


def redact_all(texts: list[str], redact: Callable[[str], str]) -> list[str]:
    """Many short texts redacted in one pass over them joined: the detector costs about 10 ms a
    call however short the text, and a tool's schema holds a string for every property. Redacted
    one by one when the join does not split back into as many (an entity found across a seam)."""
    if not texts:
        return []
    if not any(SEAM in t for t in texts):
        parts = redact(SEAM.join(texts)).split(SEAM)
        if len(parts) == len(texts):
            return parts
    return [redact(t) for t in texts]
