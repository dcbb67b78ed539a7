"""Tool calling on `POST /v1/chat/completions`, in OpenAI's shapes: the request's `tools` and
`tool_choice`, the conversation's assistant `tool_calls` and `tool` results read into the
gateway's types, and the reply's calls written back, whole or as stream deltas. Whatever model or
route the request names answers: the gateway maps the tools to its provider's format, validates
the calls and re-asks once (models/tool_calls.py), so a client gets calls it can run.

A streamed reply sends its text as it arrives (held until the reply is settled when the choice
requires a call; a re-asked reply's text after the draft's: models/streaming.py), then each call
in one delta (id, name and all its arguments): the gateway validates a call whole before anyone
may run it, and a call streamed in pieces could not be taken back once its arguments had failed
the schema. OpenAI's clients assemble deltas by index, one piece or many."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ConfigError
from ..models.tools import NAME, Tool, check_choice
from ..models.types import ChatMessage, ToolCall
from .deps import ApiError

CALL_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")  # OpenAI's "call_...", Anthropic's "toolu_01...", vLLM's


def _text(content: Any) -> str:
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        texts = [part.get("text", "") for part in content if isinstance(part, dict)]
        if not all(isinstance(t, str) for t in texts):
            raise ApiError(400, "invalid_request", "a content part's text must be a string")
        return "".join(texts)
    return content or ""


def _identifier(pattern: re.Pattern[str], value: Any, what: str) -> str:
    """A tool call's id or name, checked: a model without native tools reads them as text
    ("Tool {name} (call {id}) returned: ..."); a guarded route's screening reads names as words
    (models/screen.py), ids not at all."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ApiError(400, "invalid_request", f"{what} must match {pattern.pattern}")
    return value


def chat_messages(messages: list[Any]) -> list[ChatMessage]:
    """The request's messages (server/openai_api.Message) as the gateway's: "developer" is a
    system message, an assistant turn keeps its calls, a "tool" message its call id."""
    out = []
    for m in messages:
        extra = m.model_extra or {}
        if m.role == "tool":
            call_id = extra.get("tool_call_id")
            call_id = "" if call_id is None else _identifier(CALL_ID, call_id, "a tool message's tool_call_id")
            out.append(ChatMessage("tool", _text(m.content), tool_call_id=call_id))
            continue
        if extra.get("tool_calls") and m.role != "assistant":  # a provider's 400 would be our 502
            raise ApiError(400, "invalid_request", f"only an assistant message has tool_calls, not a {m.role} message")
        calls = tuple(_call(i, raw) for i, raw in enumerate(extra.get("tool_calls") or []))
        out.append(ChatMessage("system" if m.role == "developer" else m.role, _text(m.content), calls))
    return _named(out)


def _call(i: int, raw: Any) -> ToolCall:
    fn = raw.get("function") if isinstance(raw, dict) else None
    if not isinstance(fn, dict) or not fn.get("name"):
        raise ApiError(400, "invalid_request", f"tool_calls[{i}] needs a function with a name and arguments")
    arguments = fn.get("arguments")
    if not isinstance(arguments, (str, dict, type(None))):
        raise ApiError(400, "invalid_request", f"tool_calls[{i}].function.arguments must be a JSON string")
    call_id = f"call_{i}" if raw.get("id") is None else _identifier(CALL_ID, raw["id"], f"tool_calls[{i}].id")
    return ToolCall.parse(call_id, _identifier(NAME, fn["name"], f"tool_calls[{i}].function.name"), arguments)


def _named(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Each result named after the call it answers (Anthropic and the text form want the name)."""
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    return [
        ChatMessage(m.role, m.content, tool_call_id=m.tool_call_id, name=names.get(m.tool_call_id or ""))
        if m.role == "tool"
        else m
        for m in messages
    ]


MAX_TOOL_CHARS = 16_384  # a tool's name, description and schema: a client's schema is checked on every call


def requested_tools(tools: list[Any] | None, tool_choice: Any) -> tuple[list[Tool], str]:
    """The request's tools and choice, checked: a 400 names what is wrong before any model is asked.
    A tool over MAX_TOOL_CHARS is refused: its schema is run against every call the model makes
    (models/schema_check.py bounds each check; this bounds what it reads)."""
    try:
        parsed = [Tool.from_openai(_function(i, t)) for i, t in enumerate(tools or [])]
        choice = _choice(tool_choice)
        if parsed or choice not in ("auto", "none"):
            check_choice(parsed, choice)
    except ConfigError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from exc
    except RecursionError:
        raise ApiError(400, "invalid_request", "a tool's parameters are nested too deep") from None
    for t in parsed:
        if t.size > MAX_TOOL_CHARS:
            raise ApiError(400, "invalid_request", f"tool '{t.name}' is {t.size} characters: at most {MAX_TOOL_CHARS}")
    return parsed, choice


def _function(i: int, spec: Any) -> dict[str, Any]:
    if (
        not isinstance(spec, dict)
        or spec.get("type", "function") != "function"
        or not isinstance(spec.get("function"), dict)
    ):
        raise ConfigError(f'tools[{i}] must be {{"type": "function", "function": {{"name": ..., "parameters": ...}}}}')
    return spec


def _choice(choice: Any) -> str:
    if choice is None:
        return "auto"
    if isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict) and choice["function"].get("name"):
        return str(choice["function"]["name"])
    raise ConfigError('tool_choice must be "auto", "none", "required" or {"type": "function", "function": {"name"}}')


def reply_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    """The completion's message: content null when the model only called tools, as OpenAI sends it."""
    if not calls:
        return {"role": "assistant", "content": text}
    return {"role": "assistant", "content": text or None, "tool_calls": [c.to_openai() for c in calls]}


def call_deltas(calls: list[ToolCall]) -> list[dict[str, Any]]:
    """The stream deltas of a reply's calls: one per call, with its index, id, name and arguments."""
    return [{"tool_calls": [{"index": i, **c.to_openai()}]} for i, c in enumerate(calls)]


_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def finish_reason(reason: str) -> str:
    """OpenAI's finish_reason for whatever the answering provider said (Anthropic's stop_reason)."""
    return _FINISH.get(reason, reason or "stop")


def error_event(kind: str, message: str) -> str:
    return f"data: {json.dumps({'error': {'type': kind, 'message': message}})}\n\n"
