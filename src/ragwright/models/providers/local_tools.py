"""Function calling for the local llama.cpp server when no single tool is named.

llama-cpp-python's server, with the model's own chat template, constrains a call only when
`tool_choice` names one tool (a grammar from that tool's schema); with "auto", or "required" among
several tools, it ignores the tools and answers in text. Here such a turn is asked as JSON output
instead, its grammar built from a union of shapes: `{"tool": NAME, "arguments": {...}}` for each
tool (arguments held to that tool's schema) and, with "auto", `{"answer": "..."}`. The reply is
read back into a call or a text. The model chooses between the shapes; the grammar keeps whatever
it chooses well formed.

Used by LocalProvider only; other OpenAI-compatible servers get `tools` as they are."""

from __future__ import annotations

import dataclasses
import json
import secrets
from typing import Any

from ..types import ChatMessage, ChatRequest, ToolCall
from .base import ProviderReply


def needs_union(request: ChatRequest) -> bool:
    """True when the server would not constrain the turn by itself (see the module docstring)."""
    if not request.tools or request.tool_choice == "none":
        return False
    return request.tool_choice == "auto" or (request.tool_choice == "required" and len(request.tools) > 1)


def union_request(request: ChatRequest) -> ChatRequest:
    """The turn as a JSON-output request: no `tools`, a schema that is the union of the shapes,
    and a system message that lists the tools."""
    defs: dict[str, Any] = {}
    shapes = []
    for tool in request.tools:
        params = dict(tool.parameters)
        defs.update(params.pop("$defs", {}))  # Pydantic's "#/$defs/X" refs resolve against the root
        shapes.append(
            {
                "type": "object",
                "properties": {"tool": {"const": tool.name}, "arguments": params},
                "required": ["tool", "arguments"],
            }
        )
    if request.tool_choice == "auto":
        shapes.append({"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]})
    schema: dict[str, Any] = {"anyOf": shapes, **({"$defs": defs} if defs else {})}
    listing = "\n".join(f"- {t.name}: {t.description}" for t in request.tools)
    hint = (
        "You can call one of these tools by replying with JSON "
        '{"tool": "<name>", "arguments": {...}}:\n'
        + listing
        + ('\nOr answer directly with {"answer": "<text>"}.' if request.tool_choice == "auto" else "")
    )
    messages = list(request.messages)
    if messages and messages[0].role == "system":
        messages[0] = dataclasses.replace(messages[0], content=messages[0].content + "\n\n" + hint)
    else:
        messages.insert(0, ChatMessage("system", hint))
    return dataclasses.replace(
        request, messages=tuple(messages), tools=(), tool_choice="auto", json_schema=schema, schema_name="reply"
    )


def read_union(reply: ProviderReply) -> ProviderReply:
    """The JSON reply as a call or a text (a reply that is neither is left as text: the gateway's
    checks re-ask a turn that needed a call)."""
    try:
        data = json.loads(reply.text)
    except ValueError:
        return reply
    if isinstance(data, dict) and isinstance(data.get("tool"), str):
        arguments = data.get("arguments")
        call = ToolCall.parse(
            "call_" + secrets.token_hex(8), data["tool"], arguments if isinstance(arguments, dict) else None
        )
        return dataclasses.replace(reply, text="", finish_reason="tool_calls", tool_calls=(call,))
    if isinstance(data, dict) and isinstance(data.get("answer"), str):
        return dataclasses.replace(reply, text=data["answer"])
    return reply
