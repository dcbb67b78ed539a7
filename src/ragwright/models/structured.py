"""Structured output: ask for JSON that follows a Pydantic model's schema (the provider's JSON
mode where it has one), validate it, and re-ask with the validation errors until it fits or the
retries run out. The caller gets the typed object or a StructuredOutputError, never a dict that
merely looks right.

    class Verdict(BaseModel):
        label: Literal["yes", "no", "maybe"]
    v = gateway.generate(messages, schema=Verdict, model="default")
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic_core
from pydantic import BaseModel, ValidationError

from ..errors import StructuredOutputError
from .types import CallContext, ChatMessage

if TYPE_CHECKING:
    from .gateway import Gateway

T = TypeVar("T", bound=BaseModel)
_OPENING_FENCE = re.compile(r"```(?:json)?", re.I)


def schema_prompt(schema: type[BaseModel]) -> str:
    return "Reply with one JSON object and nothing else. It must follow this JSON schema:\n" + json.dumps(
        schema.model_json_schema(), separators=(",", ":")
    )


def json_text(text: str) -> str:
    """The JSON object inside a reply: without code fences or talk around it."""
    text = _unfenced(text.strip())
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if start != -1 and end > start else text


def _unfenced(text: str) -> str:
    """`text` without an opening ```json and a closing ``` fence: sliced, not searched, since a
    pattern for the closing fence (spaces, then ```, at the end) was tried at every space of a long
    run of them, quadratic in a reply's run of spaces (100,000 took ~14 s)."""
    opening = _OPENING_FENCE.match(text)
    if opening:
        text = text[opening.end() :].lstrip()
    return text[:-3].rstrip() if text.endswith("```") else text


def _with_schema(messages: Sequence[ChatMessage], schema: type[BaseModel]) -> list[ChatMessage]:
    out = list(messages)
    hint = schema_prompt(schema)
    if out and out[0].role == "system":
        out[0] = ChatMessage("system", out[0].content + "\n\n" + hint)
    else:
        out.insert(0, ChatMessage("system", hint))
    return out


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"]} for e in exc.errors()]


def generate(
    gateway: Gateway,
    messages: Sequence[ChatMessage],
    schema: type[T],
    *,
    model: str,
    max_retries: int = 2,
    temperature: float = 0.0,
    max_tokens: int = 512,
    context: CallContext = CallContext(),
) -> T:
    conversation = _with_schema(messages, schema)
    json_schema = schema.model_json_schema()
    last, errors = "", []
    for _ in range(max_retries + 1):
        result = gateway.chat(
            conversation,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            json_schema=json_schema,
            schema_name=schema.__name__,
            context=context,
        )
        last = result.text
        try:
            return schema.model_validate_json(json_text(last))
        except ValidationError as exc:
            errors = _errors(exc)
        conversation = [
            *conversation,
            ChatMessage("assistant", last),
            ChatMessage(
                "user",
                "That reply does not validate against the schema: "
                + "; ".join(f"{e['loc'] or 'reply'}: {e['msg']}" for e in errors)
                + ". Reply again with the corrected JSON object only.",
            ),
        ]
    raise StructuredOutputError(
        f"'{model}' gave no valid {schema.__name__} after {max_retries + 1} tries: "
        + "; ".join(f"{e['loc'] or 'reply'}: {e['msg']}" for e in errors[:5]),
        last,
        errors,
    )


class StructuredStream:
    """Partial objects (plain dicts, growing) while the JSON arrives; `value` is the validated
    object once the stream has ended."""

    def __init__(
        self,
        gateway: Gateway,
        messages: Sequence[ChatMessage],
        schema: type[BaseModel],
        *,
        model: str,
        temperature: float = 0.0,
        max_tokens: int = 512,
        context: CallContext = CallContext(),
    ) -> None:
        self.schema = schema
        self._stream = gateway.stream(
            _with_schema(messages, schema),
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            context=context,
            json_schema=schema.model_json_schema(),
            schema_name=schema.__name__,
        )
        self.value: BaseModel | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        buffer, last = "", None
        for piece in self._stream:
            buffer += piece
            start = buffer.find("{")
            if start == -1:
                continue
            try:
                partial = pydantic_core.from_json(buffer[start:], allow_partial="trailing-strings")
            except ValueError:
                continue
            if isinstance(partial, dict) and partial != last:
                last = partial
                yield partial
        try:
            self.value = self.schema.model_validate_json(json_text(buffer))
        except ValidationError as exc:
            raise StructuredOutputError(
                f"the streamed reply is not a valid {self.schema.__name__}", buffer, _errors(exc)
            ) from exc
