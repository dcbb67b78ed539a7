"""Tools a model may call: one definition (a name, a description and a JSON schema of the
arguments, or a Pydantic model that gives all three), mapped to each provider's wire format in
providers/, and checked here when a model calls one.

    class Search(BaseModel):
        '''Search the documents.'''
        query: str
        k: int = 5

    search = Tool.from_model(Search)                 # name "search", the docstring as description
    result = gateway.chat(messages, model="default", tools=[search])
    for call in result.tool_calls:                   # validated: call.arguments fits the schema
        output = run(call)                           # the caller runs the tool
        messages += [result.message, tool_result(call, output)]
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError
from .schema_check import schema_errors
from .types import ChatMessage, ToolCall

NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what both OpenAI and Anthropic accept
CHOICES = ("auto", "none", "required")


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True, slots=True)
class Tool:
    """`parameters`: a JSON schema of an object. `model`: the Pydantic model it came from, if any;
    its own validation (validators, coercions) then decides, and `parse` gives its instance."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    model: type[BaseModel] | None = None
    size: int = field(default=0, init=False, repr=False, compare=False)  # characters it puts before a model

    def __post_init__(self) -> None:
        # counted once: a tool offered on every turn of an agent loop is measured on every call
        object.__setattr__(self, "size", len(self.name) + len(self.description) + len(json.dumps(self.parameters)))
        if not NAME.fullmatch(self.name) or self.name in CHOICES:
            raise ConfigError(
                f"tool name {self.name!r}: 1 to 64 letters, digits, '_' or '-' (not auto, none or required)"
            )
        if self.parameters.get("type", "object") != "object":
            raise ConfigError(f"tool '{self.name}': its parameters must be a JSON schema of an object")

    @classmethod
    def from_model(cls, model: type[BaseModel], *, name: str | None = None, description: str | None = None) -> Tool:
        """The model's schema as the parameters; its class name in snake_case and its docstring,
        unless given."""
        schema = model.model_json_schema()
        docstring = schema.pop("description", "") or ""
        doc = description if description is not None else docstring
        schema.pop("title", None)
        return cls(name or _snake(model.__name__), doc.strip(), schema, model)

    @classmethod
    def from_openai(cls, spec: dict[str, Any]) -> Tool:
        """From OpenAI's `{"type": "function", "function": {name, description, parameters}}`."""
        inner = spec.get("function")
        fn: dict[str, Any] = inner if isinstance(inner, dict) else spec
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise ConfigError(f"tool {fn.get('name')!r}: parameters must be a JSON schema object")
        return cls(str(fn.get("name") or ""), str(fn.get("description") or ""), params)

    def errors(self, call: ToolCall) -> list[str]:
        """What is wrong with a call's arguments ([] when they fit), in words a re-ask can use."""
        parsed: Any = call.arguments  # parsed once, by ToolCall.parse; {} may stand for what did not parse
        try:
            if not parsed and call.raw_arguments.strip():
                parsed = json.loads(call.raw_arguments)
        except json.JSONDecodeError as exc:
            return [f"the arguments are not JSON ({exc.msg} at character {exc.pos})"]
        except (ValueError, RecursionError):  # an integer of over 4300 digits; arrays nested thousands deep
            return ["the arguments are not JSON a tool can take (a number too long or nesting too deep)"]
        if not isinstance(parsed, dict):
            return ["the arguments must be a JSON object"]
        if self.model is not None:
            try:
                self.model.model_validate(parsed)
            except ValidationError as exc:
                return [f"arguments.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10]]
            return []
        return schema_errors(parsed, self.parameters)

    def parse(self, call: ToolCall) -> BaseModel:
        """The call's arguments as the tool's Pydantic model (a tool made from one)."""
        if self.model is None:
            raise ConfigError(f"tool '{self.name}' has no Pydantic model: read call.arguments")
        return self.model.model_validate(call.arguments)


def tool_result(call: ToolCall, content: str, *, error: bool = False) -> ChatMessage:
    """The message that answers `call` with what its tool returned (or, `error`, how it failed)."""
    return ChatMessage("tool", content, tool_call_id=call.id, name=call.name, error=error)


def check_choice(tools: Sequence[Tool], choice: str) -> None:
    """A tool_choice names a mode or one of the tools; tool names are unique."""
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise ConfigError(f"two tools share a name: {sorted(n for n in set(names) if names.count(n) > 1)}")
    if choice not in CHOICES and choice not in names:
        raise ConfigError(f"tool_choice {choice!r} is neither auto, none, required nor a tool's name {names}")
    if choice == "required" and not tools:
        raise ConfigError("tool_choice 'required' but no tools were given")


def paired(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The conversation with every tool call answered and every result answering a call, as both
    OpenAI and Anthropic require (a 400 otherwise): a result whose call is not in the assistant
    turn before it becomes a user message that says what it was; a call left without a result gets
    one that says so, as an error. A history cut by a client or replayed to another provider after
    a fallback stays valid."""
    out: list[ChatMessage] = []
    open_calls: dict[str, ToolCall] = {}
    for m in messages:
        if m.role == "tool":
            call = open_calls.pop(m.tool_call_id or "", None)
            if call is None:
                out.append(
                    ChatMessage("user", f"(result of tool {m.name or 'call'} {m.tool_call_id or ''})\n{m.content}")
                )
            else:
                out.append(m)
            continue
        out.extend(tool_result(c, "no result was recorded for this call", error=True) for c in open_calls.values())
        open_calls = {c.id: c for c in m.tool_calls} if m.role == "assistant" else {}
        out.append(m)
    out.extend(tool_result(c, "no result was recorded for this call", error=True) for c in open_calls.values())
    return out
