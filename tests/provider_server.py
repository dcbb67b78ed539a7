"""A real loopback HTTP server that speaks both the OpenAI wire protocol (chat completions, embeddings,
models) and the Anthropic Messages protocol, and can be told to fail the ways a network and a provider
fail: error statuses with Retry-After, slow answers, dropped and reset connections, truncated bodies,
streams cut mid-way or stalled, malformed JSON, refusals. Tests of the model gateway use it instead of mocks.
It speaks tool calls too: `reply` may return calls (`tool_call(...)`), sent as OpenAI `tool_calls` (streamed
as argument deltas) or Anthropic `tool_use` blocks (streamed as input_json_delta); tool turns in requests are
checked as the real APIs check them (every call answered, every result answering a call); `tools=False`
makes it answer any request with tools the way servers without tool support do.

    with ProviderServer() as srv:
        srv.fail_next(status(429, retry_after=2), drop(), cut_stream(3))
        ...  # point a client at srv.base_url

Every fault is real at the socket/HTTP level: a drop is a closed TCP connection, a cut stream is a chunked
body whose terminating chunk never comes, a delay is a handler thread sleeping while others keep answering.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

# --------------------------------------------------------------------------------------------- faults


@dataclass(frozen=True)
class Fault:
    """Base of every fault. Build them with the lower-case factory functions below."""


@dataclass(frozen=True)
class Status(Fault):
    code: int
    # None: the dialect's error body; str: a message in the dialect's envelope; dict/list: JSON as is; bytes: raw
    body: Any = None
    retry_after: int | float | str | datetime | None = None
    headers: dict[str, str] | None = None


@dataclass(frozen=True)
class Delay(Fault):
    seconds: float


@dataclass(frozen=True)
class Drop(Fault):
    reset: bool = False  # False: FIN (orderly close); True: RST (SO_LINGER 0)


@dataclass(frozen=True)
class Malformed(Fault):
    body: bytes = b'{"id": "chatcmpl-truncated", "object": "chat.completion", "choices": [{"message": '


@dataclass(frozen=True)
class CutStream(Fault):
    after_tokens: int


@dataclass(frozen=True)
class Stall(Fault):
    after_tokens: int
    seconds: float


@dataclass(frozen=True)
class BadChunk(Fault):
    after_tokens: int = 0


@dataclass(frozen=True)
class StreamError(Fault):
    after_tokens: int = 0
    message: str = "Overloaded"


@dataclass(frozen=True)
class ContextLengthExceeded(Fault):
    limit: int = 4096
    requested: int = 5123


@dataclass(frozen=True)
class ModelNotFound(Fault):
    pass


@dataclass(frozen=True)
class Refusal(Fault):
    message: str = "I can't help with that."


def status(
    code: int,
    body: Any = None,
    retry_after: int | float | str | datetime | None = None,
    headers: dict[str, str] | None = None,
) -> Status:
    """Answer with HTTP `code` and an error body in the request's dialect. `retry_after` sets Retry-After:
    a number of seconds, an HTTP-date string, or a datetime (formatted as an HTTP-date)."""
    return Status(code, body, retry_after, dict(headers) if headers else None)


def delay(seconds: float) -> Delay:
    """Sleep `seconds` (without blocking other requests), then answer normally."""
    return Delay(seconds)


def drop(reset: bool = False) -> Drop:
    """Read the request, then close the TCP connection without any response (RST instead of FIN if `reset`)."""
    return Drop(reset)


def malformed(body: bytes | str | None = None) -> Malformed:
    """200, Content-Type application/json, a body that is not valid JSON (streaming requests too)."""
    if body is None:
        return Malformed()
    return Malformed(body.encode() if isinstance(body, str) else body)


def cut_stream(after_tokens: int) -> CutStream:
    """Streaming: send `after_tokens` content chunks, then close the connection with no final event, no
    [DONE]/message_stop and no terminating HTTP chunk. Non-streaming: send half the body, then close."""
    return CutStream(after_tokens)


def stall(after_tokens: int, seconds: float) -> Stall:
    """Streaming: send `after_tokens` content chunks, go silent for `seconds`, then finish normally
    (read-timeout tests). Non-streaming: send half the body, go silent, send the rest."""
    return Stall(after_tokens, seconds)


def bad_chunk(after_tokens: int = 0) -> BadChunk:
    """Streaming: after `after_tokens` content chunks, one SSE event whose data is not JSON; the stream
    then continues and ends normally. Non-streaming: same as malformed()."""
    return BadChunk(after_tokens)


def stream_error(after_tokens: int = 0, message: str = "Overloaded") -> StreamError:
    """Streaming: after `after_tokens` content chunks, an in-stream error event (Anthropic `event: error`
    overloaded_error; OpenAI `data: {"error": ...}`), then the HTTP body ends cleanly without
    message_stop/[DONE]. Non-streaming: 529 overloaded_error (Anthropic) / 503 server_error (OpenAI)."""
    return StreamError(after_tokens, message)


def context_length_exceeded(limit: int = 4096, requested: int = 5123) -> ContextLengthExceeded:
    """400 in the dialect's context-too-long shape."""
    return ContextLengthExceeded(limit, requested)


def model_not_found() -> ModelNotFound:
    """404: OpenAI code model_not_found; Anthropic not_found_error."""
    return ModelNotFound()


def refusal(message: str = "I can't help with that.") -> Refusal:
    """A 200 answer that is a refusal: OpenAI message.refusal with content null; Anthropic
    stop_reason "refusal" with empty content (also when streaming). Other routes answer normally."""
    return Refusal(message)


@dataclass(frozen=True)
class ToolUse:
    """One tool call a scripted reply makes: `arguments` a dict, or a string sent as is (maybe not JSON)."""

    name: str
    arguments: Any = None
    id: str | None = None


def tool_call(name: str, arguments: Any = None, id: str | None = None) -> ToolUse:
    """A call for `reply` to return: `[tool_call("search", {"query": "x"})]`, or `("text", [calls])`."""
    return ToolUse(name, {} if arguments is None else arguments, id)


def tool_turns(body: dict[str, Any]) -> int:
    """How many tool results (OpenAI "tool" messages or Anthropic tool_result blocks) a request carries."""
    n = 0
    for m in body.get("messages") or []:
        if m.get("role") == "tool":
            n += 1
        elif isinstance(m.get("content"), list):
            n += sum(1 for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_result")
    return n


def _arguments_text(call: ToolUse) -> str:
    return call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)


def _pieces(text: str, n: int = 3) -> list[str]:
    """Argument text in `n` fragments, as providers stream it."""
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# ------------------------------------------------------------------------------------------- helpers


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str  # without the query string
    headers: dict[str, str]  # lower-case keys
    body: Any  # parsed JSON, or None if empty/unparseable
    raw: bytes
    dialect: str  # "openai" or "anthropic"
    fault: Fault | None  # the fault this request consumed, if any
    at: float = field(default_factory=time.monotonic)


def text_of(content: Any) -> str:
    """Message content as text: a string, or a list of blocks whose text parts are joined with newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") in ("text", "input_text")
        )
    return str(content)


def echo_reply(body: dict[str, Any]) -> str:
    """The default reply: "echo: " + the text of the last user message."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return "echo: " + text_of(message.get("content"))
    return "echo: "


def tokenize(text: str) -> list[str]:
    """Split a reply into stream tokens: each word with the whitespace before it; "".join(...) == text."""
    tokens = re.findall(r"\s*\S+", text)
    rest = text[sum(map(len, tokens)) :]
    if rest:
        if tokens:
            tokens[-1] += rest
        else:
            tokens.append(rest)
    return tokens


def embedding_for(text: str, dim: int = 8) -> list[float]:
    """The deterministic unit vector the server returns for `text` (seeded by sha256 of the text)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    vec = np.random.default_rng(seed).standard_normal(dim)
    return (vec / np.linalg.norm(vec)).tolist()


def _retry_after_value(value: int | float | str | datetime) -> str:
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return format_datetime(value.astimezone(UTC), usegmt=True)
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value)


_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("permission_error", None, "You are not allowed to sample from this model."),
    404: ("invalid_request_error", None, "Not found."),
    408: ("timeout", None, "Request timed out."),
    409: ("invalid_request_error", None, "Conflict."),
    413: ("invalid_request_error", None, "Request too large."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout."),
}
_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out."),
    529: ("overloaded_error", "Overloaded"),
}
_REASONS = {529: "Overloaded"}


def _openai_error(
    code: int,
    message: str | None = None,
    type_: str | None = None,
    err_code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    d_type, d_code, d_msg = _OPENAI_ERRORS.get(
        code, ("server_error" if code >= 500 else "invalid_request_error", None, f"HTTP {code}")
    )
    return {
        "error": {
            "message": message or d_msg,
            "type": type_ or d_type,
            "param": param,
            "code": err_code if err_code is not None else d_code,
        }
    }


def _anthropic_error(code: int, message: str | None = None, type_: str | None = None) -> dict[str, Any]:
    d_type, d_msg = _ANTHROPIC_ERRORS.get(
        code, ("api_error" if code >= 500 else "invalid_request_error", f"HTTP {code}")
    )
    return {
        "type": "error",
        "error": {"type": type_ or d_type, "message": message or d_msg},
        "request_id": f"req_{uuid.uuid4().hex[:24]}",
    }


def _error(
    dialect: str,
    code: int,
    message: str | None = None,
    type_: str | None = None,
    err_code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    if dialect == "anthropic":
        return _anthropic_error(code, message, type_)
    return _openai_error(code, message, type_, err_code, param)


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "").encode() + f"data: {payload}\n\n".encode()


class _Abort(Exception):
    """Raised inside a handler to close the connection (server stopping, or a fault said so)."""


@dataclass
class _Stream:
    head: list[bytes]
    tokens: list[bytes]
    tail: list[bytes]
    error: bytes  # the in-stream error event for stream_error()
    garbage: bytes  # the non-JSON event for bad_chunk()


_ROUTES = {
    ("POST", "/v1/chat/completions"): "chat",
    ("POST", "/v1/embeddings"): "embeddings",
    ("GET", "/v1/models"): "models",
    ("POST", "/v1/messages"): "messages",
}


# -------------------------------------------------------------------------------------------- server


class ProviderServer:
    """An OpenAI + Anthropic compatible server on 127.0.0.1 with a fault queue. See the module docstring."""

    def __init__(
        self,
        *,
        reply: Callable[[dict[str, Any]], Any] | None = None,
        usage: tuple[int, int] | Callable[[dict[str, Any], str], tuple[int, int] | None] | None = (11, 7),
        models: list[str] | None = None,
        embed_dim: int = 8,
        latency_s: float = 0.0,
        api_key: str | None = None,
        strict: bool = True,
        port: int = 0,
        tools: bool = True,
        reasoning: str = "",
    ) -> None:
        self.reply: Callable[[dict[str, Any]], Any] = reply or echo_reply
        self.reasoning = (
            reasoning  # thoughts before the reply: OpenAI reasoning_content, Anthropic a thinking block (not streamed)
        )
        self.tools = tools  # False: a request with tools gets the 400 of a server without tool support
        self.usage = usage  # (input_tokens, output_tokens), a callable(body, text) -> that, or None to omit
        self.models: list[str] = list(models) if models else ["test-model"]
        self.embed_dim = embed_dim
        self.latency_s = latency_s  # added before every successful (200) answer
        self.api_key = api_key  # if set: OpenAI needs "Authorization: Bearer <key>", Anthropic "x-api-key: <key>"
        self.strict = strict  # validate request bodies/headers as the real APIs do (400 on violations)
        self.requests: list[Recorded] = []
        self._lock = threading.Condition()
        self._queue: deque[tuple[Fault, str | None]] = deque()
        self._always: tuple[Fault, str | None] | None = None
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._httpd = _HTTPServer(("127.0.0.1", port), type("Handler", (_Handler,), {"provider": self}))
        self.port: int = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> ProviderServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"provider-server-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes sleeping handlers, which then close their connections
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # idle keep-alive connections and anything mid-answer
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()

    def __enter__(self) -> ProviderServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # faults
    def fail_next(self, *faults: Fault, on: str | None = None) -> None:
        """Queue faults, consumed one per request in order; `on` limits them to paths ending with it."""
        with self._lock:
            self._queue.extend((f, on) for f in faults)

    def fail_always(self, fault: Fault, on: str | None = None) -> None:
        """Apply `fault` to every request (matching `on`) once the queue has nothing for it."""
        with self._lock:
            self._always = (fault, on)

    def clear(self, requests: bool = False) -> None:
        """Forget queued and permanent faults (and the recorded requests if `requests`)."""
        with self._lock:
            self._queue.clear()
            self._always = None
            if requests:
                self.requests.clear()

    @property
    def pending(self) -> int:
        """Number of queued faults not yet consumed."""
        with self._lock:
            return len(self._queue)

    # recorded requests
    def count(self, path_suffix: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path_suffix is None or r.path.endswith(path_suffix))

    def last(self, path_suffix: str | None = None) -> Recorded | None:
        with self._lock:
            matching = [r for r in self.requests if path_suffix is None or r.path.endswith(path_suffix)]
        return matching[-1] if matching else None

    def wait_for(self, n: int, timeout: float = 2.0, path_suffix: str | None = None) -> bool:
        """Block until at least `n` requests (matching `path_suffix`) have arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while sum(1 for r in self.requests if path_suffix is None or r.path.endswith(path_suffix)) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    # internals used by the handler
    def _admit(self, rec: Recorded, routed: bool) -> Recorded:
        with self._lock:
            if routed:
                rec.fault = self._take_fault(rec.path)
            self.requests.append(rec)
            self._lock.notify_all()
        return rec

    def _take_fault(self, path: str) -> Fault | None:
        for i, (fault, on) in enumerate(self._queue):
            if on is None or path.endswith(on):
                del self._queue[i]
                return fault
        if self._always is not None and (self._always[1] is None or path.endswith(self._always[1])):
            return self._always[0]
        return None

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self._stopping.wait(seconds):
            raise _Abort

    def _usage_for(self, body: dict[str, Any], text: str) -> tuple[int, int] | None:
        return self.usage(body, text) if callable(self.usage) else self.usage


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (OSError, ValueError, _Abort)):
            return  # the client (or a fault) closed the connection
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    provider: ProviderServer
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, so a cut stream is detectably incomplete
    server_version = "ProviderServer/1.0"
    timeout = 10  # idle keep-alive connections

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.provider._lock:
            self.provider._conns.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except (OSError, ValueError):
            pass
        finally:
            with self.provider._lock:
                self.provider._conns.discard(self.connection)

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._guarded()

    def do_POST(self) -> None:
        self._guarded()

    def _guarded(self) -> None:
        try:
            self._handle()
        except _Abort:
            self._close()
        except (OSError, ValueError):  # the client went away mid-answer
            self.close_connection = True

    # ---------------------------------------------------------------------------------- dispatch
    def _handle(self) -> None:
        srv = self.provider
        path = self.path.split("?", 1)[0]
        raw = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        route = _ROUTES.get((self.command, path))
        anthropic = path == "/v1/messages" or (path == "/v1/models" and "anthropic-version" in headers)
        rec = srv._admit(
            Recorded(self.command, path, headers, body, raw, "anthropic" if anthropic else "openai", None),
            routed=route is not None,
        )
        self.rec, self.dialect, self.body = rec, rec.dialect, body if isinstance(body, dict) else {}
        self.calls = []
        self.streaming = route in ("chat", "messages") and self.body.get("stream") is True
        if route is None:
            return self._json(404, _error(self.dialect, 404, f"Unknown route: {self.command} {path}"))

        fault = rec.fault
        if isinstance(fault, Drop):
            return self._close(reset=fault.reset)
        if isinstance(fault, Status):
            return self._status(fault)
        if isinstance(fault, ContextLengthExceeded):
            if self.dialect == "anthropic":
                msg = f"prompt is too long: {fault.requested} tokens > {fault.limit} maximum"
                return self._json(400, _anthropic_error(400, msg, "invalid_request_error"))
            msg = (
                f"This model's maximum context length is {fault.limit} tokens. However, your messages resulted "
                f"in {fault.requested} tokens. Please reduce the length of the messages."
            )
            return self._json(
                400, _openai_error(400, msg, "invalid_request_error", "context_length_exceeded", "messages")
            )
        if isinstance(fault, ModelNotFound):
            model = self.body.get("model", "")
            if self.dialect == "anthropic":
                return self._json(404, _anthropic_error(404, f"model: {model}", "not_found_error"))
            msg = f"The model `{model}` does not exist or you do not have access to it."
            return self._json(404, _openai_error(404, msg, "invalid_request_error", "model_not_found"))
        if isinstance(fault, Delay):
            srv._sleep(fault.seconds)
        if isinstance(fault, Malformed) or (isinstance(fault, BadChunk) and not self.streaming):
            srv._sleep(srv.latency_s)
            raw_out = fault.body if isinstance(fault, Malformed) else Malformed().body
            return self._raw(200, raw_out, "application/json")
        if isinstance(fault, StreamError) and not self.streaming:
            code = 529 if self.dialect == "anthropic" else 503
            return self._json(code, _error(self.dialect, code, fault.message))

        problem = self._check_auth(headers) or self._validate(route, headers, body, raw)
        if problem is not None:
            return self._json(*problem)
        try:
            if route == "chat":
                return self._chat(fault)
            if route == "messages":
                return self._messages(fault)
        except _ReplyError as exc:
            return self._json(500, _error(self.dialect, 500, f"ProviderServer.reply raised {exc.__cause__!r}"))
        srv._sleep(srv.latency_s)
        if route == "embeddings":
            return self._send_body(self._embeddings(), fault)
        return self._send_body(self._models(), fault)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _check_auth(self, headers: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        key = self.provider.api_key
        if key is None:
            return None
        if self.dialect == "anthropic":
            if headers.get("x-api-key") != key:
                return 401, _anthropic_error(401, "invalid x-api-key", "authentication_error")
        elif headers.get("authorization") != f"Bearer {key}":
            return 401, _openai_error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        return None

    def _validate(self, route: str, headers: dict[str, str], body: Any, raw: bytes) -> tuple[int, dict] | None:
        def bad(message: str, param: str | None = None) -> tuple[int, dict]:
            return 400, _error(self.dialect, 400, message, "invalid_request_error", None, param)

        if route == "models":
            return None
        if not isinstance(body, dict):
            return bad("We could not parse the JSON body of your request." if raw else "Request body is empty.")
        if not self.provider.strict:
            return None
        if route == "embeddings":
            if not isinstance(body.get("model"), str) or not body["model"]:
                return bad("you must provide a model parameter", "model")
            if not isinstance(body.get("input"), (str, list)) or body["input"] in ("", []):
                return bad("'input' must be a non-empty string or array", "input")
            return None
        if not isinstance(body.get("model"), str) or not body["model"]:
            return bad(
                "model: Field required" if route == "messages" else "you must provide a model parameter", "model"
            )
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return bad(
                "messages: Field required" if route == "messages" else "'messages' must be a non-empty array",
                "messages",
            )
        if not all(isinstance(m, dict) and "role" in m for m in messages):
            return bad("messages: each message needs a role", "messages")
        if route == "chat":
            roles = {"system", "developer", "user", "assistant", "tool", "function"}
            for i, m in enumerate(messages):
                if m["role"] not in roles:
                    return bad(
                        f"Invalid value: '{m['role']}'. Supported values are: {sorted(roles)}.", f"messages[{i}].role"
                    )
            problem = self._tools_offered(body) or _openai_tool_turns(messages)
            return bad(problem, "messages") if problem else None
        # Anthropic Messages
        if "anthropic-version" not in headers:
            return bad("anthropic-version: header is required")
        if not isinstance(body.get("max_tokens"), int) or isinstance(body["max_tokens"], bool):
            return bad("max_tokens: Field required")
        for i, m in enumerate(messages):
            if m["role"] not in ("user", "assistant"):
                return bad(
                    f'messages: Unexpected role "{m["role"]}". The Messages API accepts a top-level '
                    f'`system` parameter, not "system" as an input message role.'
                    if m["role"] == "system"
                    else f"messages.{i}.role: Input should be 'user' or 'assistant'"
                )
            content = m.get("content")
            if not isinstance(content, (str, list)) or (
                isinstance(content, list) and not all(isinstance(b, dict) and "type" in b for b in content)
            ):
                return bad(f"messages.{i}.content: Input should be a valid string or list of content blocks")
        system = body.get("system")
        if system is not None and not (
            isinstance(system, str)
            or (isinstance(system, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in system))
        ):
            return bad("system: Input should be a valid string or list of text blocks")
        problem = self._tools_offered(body) or _anthropic_tool_turns(messages, bool(body.get("tools")))
        return bad(problem) if problem else None

    def _tools_offered(self, body: dict[str, Any]) -> str | None:
        """What a server says of `tools` it cannot take, or of tools malformed for its dialect."""
        tools = body.get("tools")
        if tools is None:
            return None
        if not self.provider.tools:
            return f"registry.ollama.ai/library/{body.get('model')} does not support tools"
        names = []
        for i, t in enumerate(tools if isinstance(tools, list) else [None]):
            fn = (t or {}).get("function") if self.dialect == "openai" else t
            if self.dialect == "openai" and (t or {}).get("type") != "function":
                return f"tools[{i}].type: must be 'function'"
            if not isinstance(fn, dict) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(fn.get("name"))):
                return f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            schema = fn.get("parameters" if self.dialect == "openai" else "input_schema")
            if self.dialect == "anthropic" and not isinstance(schema, dict):
                return f"tools.{i}.input_schema: Field required"
            names.append(fn["name"])
        choice = body.get("tool_choice")
        named = (
            ((choice or {}).get("function") or {}).get("name")
            if self.dialect == "openai" and isinstance(choice, dict)
            else (choice or {}).get("name")
            if isinstance(choice, dict) and choice.get("type") == "tool"
            else None
        )
        if named is not None and named not in names:
            return f"tool_choice names '{named}', which is not among the tools"
        return None

    # --------------------------------------------------------------------------------- OpenAI
    def _reply_tokens(self, limit_key: tuple[str, ...]) -> tuple[str, list[str], bool]:
        """The reply's text as stream tokens; its tool calls, if any, in self.calls."""
        try:
            text = self.provider.reply(self.body)
        except Exception as exc:
            raise _ReplyError from exc
        self.calls: list[ToolUse] = []
        if isinstance(text, list):
            text, self.calls = "", text
        elif isinstance(text, tuple):
            text, self.calls = text[0], list(text[1])
        text = "" if text is None else str(text)
        tokens = tokenize(text)
        limit = next((self.body[k] for k in limit_key if isinstance(self.body.get(k), int)), None)
        truncated = limit is not None and len(tokens) > limit
        if truncated:
            tokens = tokens[:limit]
            text = "".join(tokens)
        return text, tokens, truncated

    def _chat(self, fault: Fault | None) -> None:
        srv = self.provider
        is_refusal = isinstance(fault, Refusal)
        if is_refusal:
            text, tokens, truncated = fault.message, tokenize(fault.message), False
        else:
            text, tokens, truncated = self._reply_tokens(("max_completion_tokens", "max_tokens"))
        finish = "tool_calls" if self.calls else "length" if truncated else "stop"
        usage = srv._usage_for(self.body, text)
        usage_obj = (
            None
            if usage is None
            else {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": usage[0] + usage[1]}
        )
        cid, created, model = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), self.body.get("model", "")
        srv._sleep(srv.latency_s)
        if not self.streaming:
            message = (
                {"role": "assistant", "content": None, "refusal": text}
                if is_refusal
                else {"role": "assistant", "content": text, "refusal": None}
            )
            if srv.reasoning:
                message["reasoning_content"] = srv.reasoning
            if self.calls:
                message["content"] = text or None
                message["tool_calls"] = [
                    {
                        "id": c.id or f"call_{uuid.uuid4().hex[:24]}",
                        "type": "function",
                        "function": {"name": c.name, "arguments": _arguments_text(c)},
                    }
                    for c in self.calls
                ]
            payload: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "system_fingerprint": "fp_provider_server",
            }
            if usage_obj is not None:
                payload["usage"] = usage_obj
            return self._send_body(payload, fault)

        include_usage = bool((self.body.get("stream_options") or {}).get("include_usage")) and usage_obj is not None

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            c: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_provider_server",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if include_usage:
                c["usage"] = None
            return _sse(c)

        key = "refusal" if is_refusal else "content"
        first = (
            {"role": "assistant", "content": None, "refusal": ""}
            if is_refusal
            else {"role": "assistant", "content": "", "refusal": None}
        )
        tail = [chunk({}, finish)]
        if include_usage:
            tail.append(
                _sse(
                    {
                        "id": cid,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "system_fingerprint": "fp_provider_server",
                        "choices": [],
                        "usage": usage_obj,
                    }
                )
            )
        tail.append(b"data: [DONE]\n\n")
        error = _sse(
            {
                "error": {
                    "message": getattr(fault, "message", "Overloaded"),
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
        )
        call_chunks = []
        for i, c in enumerate(self.calls):
            head_call = {"index": i, "id": c.id or f"call_{uuid.uuid4().hex[:24]}", "type": "function"}
            call_chunks.append(chunk({"tool_calls": [{**head_call, "function": {"name": c.name, "arguments": ""}}]}))
            call_chunks += [
                chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
                for piece in _pieces(_arguments_text(c))
            ]
        self._stream(
            _Stream(
                [chunk(first)],
                [chunk({"reasoning_content": t}) for t in tokenize(srv.reasoning)]
                + [chunk({key: t}) for t in tokens]
                + call_chunks,
                tail,
                error,
                b'data: {"id": "' + cid.encode() + b'", "choices": [{"delta": {"content": \n\n',
            ),
            fault,
        )

    def _embeddings(self) -> dict[str, Any]:
        inputs = self.body.get("input")
        inputs = (
            [inputs]
            if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int))
            else inputs
        )
        dim = self.body.get("dimensions") if isinstance(self.body.get("dimensions"), int) else self.provider.embed_dim
        data = []
        for i, item in enumerate(inputs):
            vec = embedding_for(item if isinstance(item, str) else json.dumps(item), dim)
            if self.body.get("encoding_format") == "base64":
                value: Any = base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode()
            else:
                value = vec
            data.append({"object": "embedding", "index": i, "embedding": value})
        payload: dict[str, Any] = {"object": "list", "data": data, "model": self.body.get("model", "")}
        usage = self.provider._usage_for(self.body, "")
        if usage is not None:
            payload["usage"] = {"prompt_tokens": usage[0], "total_tokens": usage[0]}
        return payload

    def _models(self) -> dict[str, Any]:
        ids = list(self.provider.models)
        if self.dialect == "anthropic":
            return {
                "data": [
                    {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in ids
                ],
                "has_more": False,
                "first_id": ids[0] if ids else None,
                "last_id": ids[-1] if ids else None,
            }
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 1700000000, "owned_by": "provider-server"} for m in ids],
        }

    # ------------------------------------------------------------------------------ Anthropic
    def _messages(self, fault: Fault | None) -> None:
        srv = self.provider
        is_refusal = isinstance(fault, Refusal)
        if is_refusal:
            text, tokens, truncated = "", [], False
        else:
            text, tokens, truncated = self._reply_tokens(("max_tokens",))
        stop_reason = (
            "refusal" if is_refusal else "tool_use" if self.calls else ("max_tokens" if truncated else "end_turn")
        )
        uses = [
            {"type": "tool_use", "id": c.id or f"toolu_{uuid.uuid4().hex[:24]}", "name": c.name, "input": c.arguments}
            for c in self.calls
        ]
        usage = srv._usage_for(self.body, text)
        mid, model = f"msg_{uuid.uuid4().hex[:24]}", self.body.get("model", "")
        stop_details = {"type": "refusal", "category": None, "explanation": fault.message} if is_refusal else None
        srv._sleep(srv.latency_s)
        if not self.streaming:
            payload: dict[str, Any] = {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": (
                    [{"type": "thinking", "thinking": srv.reasoning, "signature": "sig"}] if srv.reasoning else []
                )
                + (([{"type": "text", "text": text}] if text or not uses else []) + uses if not is_refusal else []),
                "stop_reason": stop_reason,
                "stop_sequence": None,
            }
            if stop_details:
                payload["stop_details"] = stop_details
            if usage is not None:
                payload["usage"] = {"input_tokens": usage[0], "output_tokens": usage[1]}
            return self._send_body(payload, fault)

        def ev(data: dict[str, Any]) -> bytes:
            return _sse(data, data["type"])

        message: dict[str, Any] = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
        }
        if usage is not None:
            message["usage"] = {"input_tokens": usage[0], "output_tokens": 1}
        head = [ev({"type": "message_start", "message": message})]
        token_events = [
            ev({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}) for t in tokens
        ]
        tail: list[bytes] = []
        if not is_refusal:
            head.append(ev({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}))
            token_events.append(ev({"type": "content_block_stop", "index": 0}))
        for i, use in enumerate(uses, start=1):
            start = {**use, "input": {}}
            token_events.append(ev({"type": "content_block_start", "index": i, "content_block": start}))
            token_events += [
                ev(
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": p},
                    }
                )
                for p in _pieces(json.dumps(use["input"]))
            ]
            token_events.append(ev({"type": "content_block_stop", "index": i}))
        head.append(ev({"type": "ping"}))
        delta: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}}
        if stop_details:
            delta["delta"]["stop_details"] = stop_details
        if usage is not None:
            delta["usage"] = {"output_tokens": usage[1]}
        tail += [ev(delta), ev({"type": "message_stop"})]
        error = ev(
            {"type": "error", "error": {"type": "overloaded_error", "message": getattr(fault, "message", "Overloaded")}}
        )
        self._stream(
            _Stream(
                head,
                token_events,
                tail,
                error,
                b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": \n\n',
            ),
            fault,
        )

    # ----------------------------------------------------------------------------------- output
    def _common_headers(self) -> None:
        rid = f"req_{uuid.uuid4().hex[:24]}"
        self.send_header("request-id" if self.dialect == "anthropic" else "x-request-id", rid)

    def _raw(self, code: int, raw: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(code, _REASONS.get(code))
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self._common_headers()
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _json(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._raw(code, json.dumps(payload).encode(), "application/json", headers)

    def _status(self, fault: Status) -> None:
        if isinstance(fault.body, bytes):
            raw = fault.body
        elif isinstance(fault.body, (dict, list)):
            raw = json.dumps(fault.body).encode()
        else:
            raw = json.dumps(_error(self.dialect, fault.code, fault.body)).encode()
        headers = dict(fault.headers or {})
        if fault.retry_after is not None:
            headers["Retry-After"] = _retry_after_value(fault.retry_after)
        self._raw(fault.code, raw, "application/json", headers)

    def _send_body(self, payload: dict[str, Any], fault: Fault | None) -> None:
        """A 200 JSON answer; cut_stream/stall apply to the body of non-streaming answers too."""
        raw = json.dumps(payload).encode()
        if not isinstance(fault, (CutStream, Stall)):
            return self._raw(200, raw, "application/json")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self._common_headers()
        self.end_headers()
        half = len(raw) // 2
        self.wfile.write(raw[:half])
        if isinstance(fault, CutStream):
            raise _Abort
        self.provider._sleep(fault.seconds)
        self.wfile.write(raw[half:])

    def _stream(self, s: _Stream, fault: Fault | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self._common_headers()
        self.end_headers()
        n = getattr(fault, "after_tokens", len(s.tokens))
        for event in s.head + s.tokens[:n]:
            self._chunk(event)
        if isinstance(fault, CutStream):
            raise _Abort  # no final event, no [DONE], no terminating zero-length chunk
        if isinstance(fault, Stall):
            self.provider._sleep(fault.seconds)
        if isinstance(fault, StreamError):
            self._chunk(s.error)
        else:
            if isinstance(fault, BadChunk):
                self._chunk(s.garbage)
            for event in s.tokens[n:] + s.tail:
                self._chunk(event)
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _close(self, reset: bool = False) -> None:
        """Close the TCP connection now: FIN, or RST if `reset`."""
        self.close_connection = True
        sock = self.connection
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                os.close(sock.detach())  # a real close with linger 0 sends RST
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _openai_tool_turns(messages: list[dict[str, Any]]) -> str | None:
    """OpenAI's rules: a "tool" message answers a call of the assistant turn before it, and every
    call of that turn is answered before the next non-tool message."""
    open_ids: set[str] = set()
    for i, m in enumerate(messages):
        if m["role"] == "tool":
            if m.get("tool_call_id") not in open_ids:
                return (
                    f"Invalid parameter: messages[{i}]: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'."
                )
            open_ids.discard(m["tool_call_id"])
            continue
        if open_ids:
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                "'tool_call_id'. The following tool_call_ids did not have response messages: "
                + ", ".join(sorted(open_ids))
            )
        calls = m.get("tool_calls") if m["role"] == "assistant" else None
        for call in calls or []:
            fn = call.get("function") or {}
            if call.get("type") != "function" or not isinstance(fn.get("arguments"), str) or not fn.get("name"):
                return f"messages[{i}].tool_calls: each needs type 'function' and a function name and arguments string"
        open_ids = {c.get("id") for c in calls or []}
    if open_ids:
        return f"The following tool_call_ids did not have response messages: {', '.join(sorted(open_ids))}"
    return None


def _anthropic_tool_turns(messages: list[dict[str, Any]], tools: bool = True) -> str | None:
    """Anthropic's rules: tool_use and tool_result blocks only in a request that defines tools; each
    tool_use of an assistant turn has its tool_result in the next (user) turn, and each tool_result
    answers a tool_use of the turn just before."""
    used: set[str] = set()
    for i, m in enumerate(messages):
        blocks = m.get("content") if isinstance(m.get("content"), list) else []
        if not tools and any(b.get("type") in ("tool_use", "tool_result") for b in blocks):
            return "Requests which include `tool_use` or `tool_result` blocks must define tools."
        results = {b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"}
        if m["role"] == "assistant" and results:
            return f"messages.{i}: tool_result blocks belong in user messages"
        if m["role"] == "user":
            if used - results:
                return (
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                    f"{', '.join(sorted(used - results))}. Each `tool_use` block must have a corresponding "
                    "`tool_result` block in the next message."
                )
            if results - used:
                return (
                    f"messages.{i}.content: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{', '.join(sorted(map(str, results - used)))}. Each `tool_result` block must have a "
                    "corresponding `tool_use` block in the previous message."
                )
        uses = [b for b in blocks if b.get("type") == "tool_use"]
        for b in uses:
            if not re.fullmatch(r"[A-Za-z0-9_-]+", str(b.get("id"))) or not isinstance(b.get("input"), dict):
                return f"messages.{i}.content: tool_use.id must match ^[a-zA-Z0-9_-]+$ and input must be an object"
        used = {b["id"] for b in uses} if m["role"] == "assistant" else set()
    if used:
        return "messages: the last assistant turn's tool_use blocks have no tool_result after them"
    return None


class _ReplyError(Exception):
    """ProviderServer.reply raised; the server answers 500 and the cause is in the message."""
