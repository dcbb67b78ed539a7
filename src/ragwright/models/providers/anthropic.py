"""The Anthropic Messages protocol (`/v1/messages`), spoken with httpx: the system prompt is a
top-level field, `max_tokens` is required, and structured output is a forced tool call."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from ...errors import ProviderError
from ..types import ChatRequest, Usage
from .base import Delta, ProviderReply, StreamCancel, make_client, parse_json, sse_events, status_error, transport_error

API_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"


class AnthropicProvider:
    def __init__(self, name: str, base_url: str, model: str, api_key: str = "") -> None:
        self.name = name
        self.model = model
        base = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._url = httpx.URL(base + ("/messages" if base.endswith("/v1") else "/v1/messages"))
        headers = {"anthropic-version": API_VERSION, **({"x-api-key": api_key} if api_key else {})}
        self._client = make_client(headers)

    def _body(self, request: ChatRequest, stream: bool) -> dict[str, Any]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
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
        if request.json_schema is not None:  # structured output: one tool, and the model must call it
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
            raise transport_error(self.name, self._url, exc) from exc
        if resp.status_code != 200:
            raise status_error(self.name, self._url, resp.status_code, resp.text, resp.headers)
        data = parse_json(self.name, self._url, resp)
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise ProviderError(self.name, "malformed", f"{self._url} sent no content list: {resp.text[:200]!r}")
        text = "".join(
            b.get("text", "")
            if b.get("type") == "text"
            else json.dumps(b.get("input", {}))
            if b.get("type") == "tool_use"
            else ""
            for b in blocks
            if isinstance(b, dict)
        )
        stop = data.get("stop_reason") or ""
        raw = data.get("usage") or {}
        usage = Usage(int(raw.get("input_tokens") or 0), int(raw.get("output_tokens") or 0)) if raw else None
        return ProviderReply(
            text=text,
            usage=usage,
            finish_reason=stop,
            refusal=(text or "the model refused") if stop == "refusal" else None,
        )

    def stream(
        self, request: ChatRequest, timeout: float, cancel: StreamCancel | None = None
    ) -> Iterator[Delta | ProviderReply]:
        parts: list[str] = []
        input_tokens = output_tokens = 0
        stop, done = "", False
        try:
            with self._client.stream("POST", self._url, json=self._body(request, True), timeout=timeout) as resp:
                if cancel is not None:
                    cancel.attach(resp)
                if resp.status_code != 200:
                    resp.read()
                    raise status_error(self.name, self._url, resp.status_code, resp.text, resp.headers)
                for event, data in sse_events(resp):
                    payload = self._event(data)
                    kind = payload.get("type") or event
                    if kind == "message_start":
                        usage = (payload.get("message") or {}).get("usage") or {}
                        input_tokens = int(usage.get("input_tokens") or 0)
                    elif kind == "content_block_delta":
                        delta = payload.get("delta") or {}
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
                        raise ProviderError(
                            self.name,
                            "overloaded" if overloaded else "server",
                            f"error inside the stream: {err.get('message') or err}",
                        )
                    elif kind == "message_stop":
                        done = True
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise transport_error(self.name, self._url, exc) from exc
        if not done:
            raise ProviderError(self.name, "connection", f"{self._url}: the stream ended without message_stop")
        text = "".join(parts)
        usage = Usage(input_tokens, output_tokens) if (input_tokens or output_tokens) else None
        yield ProviderReply(
            text=text,
            usage=usage,
            finish_reason=stop,
            refusal=(text or "the model refused") if stop == "refusal" else None,
        )

    def _event(self, data: str) -> dict[str, Any]:
        try:
            payload = json.loads(data)
        except ValueError:
            raise ProviderError(self.name, "malformed", f"a stream event is not JSON: {data[:120]!r}") from None
        return payload if isinstance(payload, dict) else {}

    def close(self) -> None:
        self._client.close()
