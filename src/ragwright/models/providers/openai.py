"""The OpenAI-compatible wire protocol (`/chat/completions`, `/embeddings`), spoken with httpx.
It serves OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp servers and most hosted APIs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

from ..tools import paired
from ..types import ChatMessage, ChatRequest, ToolCall, Usage

if TYPE_CHECKING:
    import numpy as np

from .base import (
    Delta,
    ProviderReply,
    StreamCancel,
    ToolCallParts,
    failure,
    make_client,
    parse_json,
    sse_events,
    status_error,
    transport_error,
)


def wire_message(m: ChatMessage) -> dict[str, Any]:
    """One message in OpenAI's shape: an assistant turn's calls in `tool_calls` (content null
    when it said nothing), a result as role "tool" with its `tool_call_id`."""
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content}
    if m.tool_calls:
        return {"role": m.role, "content": m.content or None, "tool_calls": [c.to_openai() for c in m.tool_calls]}
    return {"role": m.role, "content": m.content}


def text_message(m: ChatMessage) -> dict[str, str]:
    """For a server whose chat template knows no tool turns (llama-cpp-python's generic formats
    fail on a null content, and drop a "tool" role): calls and results written out as text."""
    if m.role == "tool":
        status = "failed" if m.error else "returned"
        return {"role": "user", "content": f"Tool {m.name or ''} (call {m.tool_call_id}) {status}:\n{m.content}"}
    if m.tool_calls:
        calls = "\n".join(json.dumps({"tool": c.name, "arguments": c.arguments}) for c in m.tool_calls)
        return {"role": m.role, "content": (m.content + "\n" if m.content else "") + calls}
    return {"role": m.role, "content": m.content}


def tool_body(request: ChatRequest, named_only: bool = False) -> dict[str, Any]:
    """`tools`, `tool_choice` and `parallel_tool_calls` (when the caller set it) as OpenAI takes
    them (nothing when no tools are offered).
    `named_only`: the server constrains a call only when the choice names a tool (llama-cpp-python),
    so "required" with one tool is sent as its name."""
    if not request.tools:
        return {}
    choice: Any = request.tool_choice
    if named_only and choice == "required" and len(request.tools) == 1:
        choice = request.tools[0].name
    if choice not in ("auto", "none", "required"):
        choice = {"type": "function", "function": {"name": choice}}
    tools = [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
        for t in request.tools
    ]
    parallel = {} if request.parallel_tool_calls is None else {"parallel_tool_calls": request.parallel_tool_calls}
    return {"tools": tools, "tool_choice": choice, **parallel}


def _calls(raw: Any) -> tuple[ToolCall, ...]:
    out = []
    for i, item in enumerate(raw if isinstance(raw, list) else []):
        fn = item.get("function") if isinstance(item, dict) else None
        if isinstance(fn, dict):
            out.append(
                ToolCall.parse(str(item.get("id") or f"call_{i}"), str(fn.get("name") or ""), fn.get("arguments"))
            )
    return tuple(out)


class OpenAIProvider:
    def __init__(
        self,
        name: str,
        base_url: str,
        model: str,
        api_key: str = "",
        *,
        extra_headers: dict[str, str] | None = None,
        json_mode: str = "json_schema",
        native_tool_turns: bool = True,
    ) -> None:
        self.name = name
        self.json_mode = json_mode
        self.native_tool_turns = native_tool_turns
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._chat_url = httpx.URL(self.base_url + "/chat/completions")  # parsed once, not per call
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = make_client({**headers, **(extra_headers or {})})

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        if request.has_tools:
            shape = wire_message if self.native_tool_turns else text_message
            messages: list[dict[str, Any]] = [shape(m) for m in paired(request.messages)]
        else:
            messages = [{"role": m.role, "content": m.content} for m in request.messages]
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            **tool_body(request, named_only=not self.native_tool_turns),
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.json_schema is None or request.tools:
            pass
        elif self.json_mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": request.json_schema, "strict": False},
            }
        elif self.json_mode == "json_object":  # llama.cpp's server
            body["response_format"] = {"type": "json_object", "schema": request.json_schema}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def complete(self, request: ChatRequest, timeout: float) -> ProviderReply:
        try:
            resp = self._client.post(self._chat_url, json=self._body(request, False), timeout=timeout)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise transport_error(self.name, self._chat_url, exc) from exc
        if resp.status_code != 200:
            raise status_error(self.name, self._chat_url, resp.status_code, resp.text, resp.headers)
        data = parse_json(self.name, self._chat_url, resp)
        try:
            choice = data["choices"][0]
            message = choice["message"]
            text = message.get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            what = "sent no choices[0].message"
            raise failure(self.name, "malformed", what, f"{what}: {resp.text[:200]!r}", self._chat_url) from None
        calls = _calls(message.get("tool_calls"))
        hidden = [message.get(k) for k in ("reasoning_content", "reasoning", "refusal")]
        return ProviderReply(
            text=text,
            usage=_usage(data.get("usage")),
            finish_reason="tool_calls" if calls else choice.get("finish_reason") or "",
            refusal=message.get("refusal") or None,
            tool_calls=calls,
            hidden="".join(h for h in hidden if isinstance(h, str)),
        )

    def stream(
        self, request: ChatRequest, timeout: float, cancel: StreamCancel | None = None
    ) -> Iterator[Delta | ProviderReply]:
        parts: list[str] = []
        refusal: list[str] = []
        thoughts: list[str] = []
        calls = ToolCallParts()
        usage, finish, done = None, "", False
        try:
            with self._client.stream("POST", self._chat_url, json=self._body(request, True), timeout=timeout) as resp:
                if cancel is not None:
                    cancel.attach(resp)
                if resp.status_code != 200:
                    resp.read()
                    raise status_error(self.name, self._chat_url, resp.status_code, resp.text, resp.headers)
                for _, data in sse_events(resp):
                    if data.strip() == "[DONE]":
                        done = True
                        break
                    chunk = self._chunk(data)
                    if chunk.get("error"):
                        what = "sent an error inside the stream"  # its words are the provider's: logged only
                        raise failure(self.name, "server", what, f"{what}: {chunk['error']}", self._chat_url)
                    usage = _usage(chunk.get("usage")) or usage
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        finish = choice.get("finish_reason") or finish
                        if delta.get("refusal"):
                            refusal.append(delta["refusal"])
                        unseen = [delta.get("refusal"), delta.get("reasoning_content"), delta.get("reasoning")]
                        thoughts += [p for p in unseen if isinstance(p, str)]
                        for i, item in enumerate(delta.get("tool_calls") or []):
                            fn = item.get("function") or {}
                            calls.add(item.get("index", i), item.get("id"), fn.get("name"), fn.get("arguments") or "")
                            unseen += [fn.get("name"), fn.get("arguments")]
                        # billed, never shown: a refusal, a reasoning model's thoughts, the calls
                        if hidden := "".join(p for p in unseen if isinstance(p, str)):
                            yield Delta(hidden, shown=False)
                        if delta.get("content"):
                            parts.append(delta["content"])
                            yield Delta(delta["content"])
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise transport_error(self.name, self._chat_url, exc) from exc
        if not done:
            what = "the stream ended without [DONE]"
            raise failure(self.name, "connection", what, what, self._chat_url)
        whole = calls.calls()
        yield ProviderReply(
            text="".join(parts),
            usage=usage,
            finish_reason="tool_calls" if whole else finish,
            refusal="".join(refusal) or None,
            tool_calls=whole,
            hidden="".join(thoughts),
        )

    def _chunk(self, data: str) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError:
            what = "sent a stream event that is not JSON"
            raise failure(self.name, "malformed", what, f"{what}: {data[:120]!r}", self._chat_url) from None
        if not isinstance(chunk, dict):
            what = "sent a stream event that is not an object"
            raise failure(self.name, "malformed", what, f"{what}: {data[:120]!r}", self._chat_url)
        return chunk

    def embed(self, texts: list[str], timeout: float = 30.0) -> np.ndarray:
        import numpy as np

        url = self.base_url + "/embeddings"
        try:
            resp = self._client.post(url, json={"model": self.model, "input": texts}, timeout=timeout)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise transport_error(self.name, url, exc) from exc
        if resp.status_code != 200:
            raise status_error(self.name, url, resp.status_code, resp.text, resp.headers)
        try:
            rows = sorted(parse_json(self.name, url, resp)["data"], key=lambda r: r["index"])
            return np.asarray([r["embedding"] for r in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            what = "sent no data[].embedding"
            raise failure(self.name, "malformed", what, what, url) from None

    def close(self) -> None:
        self._client.close()


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    return Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0))
