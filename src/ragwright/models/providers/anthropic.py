"""The Anthropic Messages protocol (`/v1/messages`), spoken with httpx: the system prompt is a
top-level field, `max_tokens` is required, and structured output is a forced tool call. Tool
calls are `tool_use` content blocks of the assistant's turn, and results `tool_result` blocks of
the user turn after it: a conversation kept in OpenAI's shape (a "tool" message per result) is
converted here, so that a fallback from an OpenAI model to this one replays it validly. A request
without tools (a follow-up chat, structured output) writes earlier calls and results as text, as
Anthropic takes those blocks only in a request that defines tools."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx

from ..tools import paired
from ..types import ChatMessage, ChatRequest, ToolCall, Usage
from . import base as wire
from .base import Delta, ProviderReply, StreamCancel, ToolCallParts
from .openai import text_message

_ID = re.compile(r"[^A-Za-z0-9_-]")  # Anthropic's tool_use ids: ^[a-zA-Z0-9_-]+$


def _id(call_id: str | None) -> str:
    return _ID.sub("_", call_id or "") or "call"


def _blocks(m: ChatMessage) -> list[dict[str, Any]]:
    if m.role == "tool":
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": _id(m.tool_call_id), "content": m.content}
        return [{**block, "is_error": True} if m.error else block]
    out: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
    out += [{"type": "tool_use", "id": _id(c.id), "name": c.name, "input": c.arguments} for c in m.tool_calls]
    return out


def anthropic_messages(messages: list[ChatMessage] | tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
    """A conversation in Anthropic's shape: results become tool_result blocks of a user turn (the
    results of one assistant turn together, before any text), calls tool_use blocks, and turns of
    the same role are merged, since the roles must alternate."""
    out: list[dict[str, Any]] = []
    for m in paired([m for m in messages if m.role != "system"]):
        role = "user" if m.role == "tool" else m.role
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(_blocks(m))
        else:
            out.append({"role": role, "content": _blocks(m)})
    for turn in out:  # a turn of text only stays a plain string, as before tools existed
        if all(b["type"] == "text" for b in turn["content"]):
            turn["content"] = "\n\n".join(b["text"] for b in turn["content"])
    return out


def _tools(request: ChatRequest) -> dict[str, Any]:
    tools = [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in request.tools]
    choice = request.tool_choice
    mode: dict[str, Any] = (
        {"type": "any"}
        if choice == "required"
        else {"type": choice}
        if choice in ("auto", "none")
        else {"type": "tool", "name": choice}
    )
    if request.parallel_tool_calls is False and choice != "none":  # "none" takes no such field
        mode["disable_parallel_tool_use"] = True
    return {"tools": tools, "tool_choice": mode}


API_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicProvider:
    def __init__(self, name: str, base_url: str, model: str, api_key: str = "") -> None:
        self.name = name
        self.model = model
        base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._url = httpx.URL(base + ("/messages" if base.endswith("/v1") else "/v1/messages"))
        headers = {"anthropic-version": API_VERSION, **({"x-api-key": api_key} if api_key else {})}
        self._client = wire.make_client(headers)

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        if request.tools:
            messages = anthropic_messages(request.messages)
        elif request.has_tools:  # Anthropic takes tool_use/tool_result blocks only beside `tools`: a 400
            texts = [text_message(m) for m in paired(request.messages)]
            messages = anthropic_messages([ChatMessage(t["role"], t["content"]) for t in texts])
        else:
            messages = [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if system:
            body["system"] = system
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if request.tools:
            body.update(_tools(request))
        elif request.json_schema is not None:  # structured output: one tool, and the model must call it
            body["tools"] = [
                {
                    "name": request.schema_name,
                    "description": "Return the answer in this structure.",
                    "input_schema": request.json_schema,
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": request.schema_name}
        if stream:
            body["stream"] = True
        return body

    def complete(self, request: ChatRequest, timeout: float) -> ProviderReply:
        try:
            resp = self._client.post(self._url, json=self._body(request, False), timeout=timeout)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise wire.transport_error(self.name, self._url, exc) from exc
        if resp.status_code != 200:
            raise wire.status_error(self.name, self._url, resp.status_code, resp.text, resp.headers)
        data = wire.parse_json(self.name, self._url, resp)
        blocks = data.get("content")
        if not isinstance(blocks, list):
            what = "sent no content list"
            raise wire.failure(self.name, "malformed", what, f"{what}: {resp.text[:200]!r}", self._url)
        blocks = [b for b in blocks if isinstance(b, dict)]
        calls: tuple[ToolCall, ...] = ()
        if request.tools:  # tool_use blocks are calls; without tools, the structured-output tool's input is the text
            calls = tuple(
                ToolCall.parse(str(b.get("id") or ""), str(b.get("name") or ""), b.get("input") or {})
                for b in blocks
                if b.get("type") == "tool_use"
            )
            text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        else:
            text = "".join(
                b.get("text", "") if b.get("type") == "text" else json.dumps(b.get("input", {}))
                for b in blocks
                if b.get("type") in ("text", "tool_use")
            )
        stop = data.get("stop_reason") or ""
        thinking = "".join(str(b.get("thinking") or "") for b in blocks if b.get("type") == "thinking")
        raw = data.get("usage") or {}
        usage = Usage(int(raw.get("input_tokens") or 0), int(raw.get("output_tokens") or 0)) if raw else None
        return ProviderReply(
            text=text,
            usage=usage,
            finish_reason="tool_calls" if calls else stop,
            refusal=(text or "the model refused") if stop == "refusal" else None,
            tool_calls=calls,
            hidden=thinking,
        )

    def stream(
        self, request: ChatRequest, timeout: float, cancel: StreamCancel | None = None
    ) -> Iterator[Delta | ProviderReply]:
        parts: list[str] = []
        thinking: list[str] = []
        calls = ToolCallParts()
        tools = bool(request.tools)
        input_tokens = output_tokens = 0
        stop, done = "", False
        try:
            with self._client.stream("POST", self._url, json=self._body(request, True), timeout=timeout) as resp:
                if cancel is not None:
                    cancel.attach(resp)
                if resp.status_code != 200:
                    resp.read()
                    raise wire.status_error(self.name, self._url, resp.status_code, resp.text, resp.headers)
                for event, data in wire.sse_events(resp):
                    payload = self._event(data)
                    kind = payload.get("type") or event
                    if kind == "message_start":
                        usage = (payload.get("message") or {}).get("usage") or {}
                        input_tokens = int(usage.get("input_tokens") or 0)
                    elif kind == "content_block_start" and tools:
                        block = payload.get("content_block") or {}
                        if block.get("type") == "tool_use":
                            calls.add(int(payload.get("index") or 0), block.get("id"), block.get("name"))
                            if isinstance(block.get("name"), str):  # billed, never shown (so are its arguments)
                                yield Delta(block["name"], shown=False)
                    elif kind == "content_block_delta":
                        delta = payload.get("delta") or {}
                        if tools and delta.get("type") == "input_json_delta":
                            calls.add(int(payload.get("index") or 0), arguments=delta.get("partial_json") or "")
                            if isinstance(delta.get("partial_json"), str):
                                yield Delta(delta["partial_json"], shown=False)
                            continue
                        if isinstance(delta.get("thinking"), str):  # extended thinking: billed, never shown
                            thinking.append(delta["thinking"])
                            yield Delta(delta["thinking"], shown=False)
                        piece = delta.get("text") or delta.get("partial_json") or ""
                        if piece:
                            parts.append(piece)
                            yield Delta(piece)
                    elif kind == "message_delta":
                        stop = (payload.get("delta") or {}).get("stop_reason") or stop
                        output_tokens = int((payload.get("usage") or {}).get("output_tokens") or output_tokens)
                    elif kind == "error":
                        err = payload.get("error") or {}
                        overloaded = "overloaded" in str(err.get("type", ""))
                        what = "sent an error inside the stream"  # its words are the provider's: logged only
                        raise wire.failure(
                            self.name,
                            "overloaded" if overloaded else "server",
                            f"{what} ({'overloaded' if overloaded else 'server'})",
                            f"{what}: {err.get('message') or err}",
                            self._url,
                        )
                    elif kind == "message_stop":
                        done = True
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise wire.transport_error(self.name, self._url, exc) from exc
        if not done:
            what = "the stream ended without message_stop"
            raise wire.failure(self.name, "connection", what, what, self._url)
        text = "".join(parts)
        usage = Usage(input_tokens, output_tokens) if (input_tokens or output_tokens) else None
        whole = calls.calls()
        yield ProviderReply(
            text=text,
            usage=usage,
            finish_reason="tool_calls" if whole else stop,
            refusal=(text or "the model refused") if stop == "refusal" else None,
            tool_calls=whole,
            hidden="".join(thinking),
        )

    def _event(self, data: str) -> dict[str, Any]:
        try:
            payload = json.loads(data)
        except ValueError:
            what = "sent a stream event that is not JSON"
            raise wire.failure(self.name, "malformed", what, f"{what}: {data[:120]!r}", self._url) from None
        return payload if isinstance(payload, dict) else {}

    def close(self) -> None:
        self._client.close()
