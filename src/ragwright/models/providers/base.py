"""The provider contract, and the HTTP plumbing the wire protocols share: one pooled httpx
client per model, errors sorted into kinds the gateway can act on, and SSE parsing.

A failure's text (str of the ProviderError) reaches callers: HTTP errors, an answer's note, the
traces keys read. It names the model and the failure's kind, never the provider's URL, host, port,
credentials or its error body (OpenAI's 401 quotes the key's ends): those go to the server log only
(`failure`), with any credentials written into the URL masked."""

from __future__ import annotations

import email.utils
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from ...errors import ProviderError
from ..types import ChatRequest, ToolCall, Usage

log = logging.getLogger("ragwright.models")


@dataclass(slots=True)
class ProviderReply:
    text: str
    usage: Usage | None = None  # None: the provider did not say
    finish_reason: str = ""  # "tool_calls" when the model called tools, whatever the provider says
    refusal: str | None = None  # the model declined; `text` may be empty
    tool_calls: tuple[ToolCall, ...] = ()  # as the model wrote them: the gateway validates them
    # written and billed, not in the reply (a reasoning model's thoughts, OpenAI's refusal field):
    # counted with the reply when the provider sends no usage
    hidden: str = ""


class ToolCallParts:
    """A streamed tool call arrives in pieces (OpenAI: `delta.tool_calls[i]` with the id and name
    first, then argument fragments; Anthropic: a tool_use block start, then input_json_delta
    fragments), keyed by their index in the reply: assembled here into whole calls, in order.
    Bounded by the stream itself: a provider's reply is at most max_tokens long."""

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}  # index -> [id, name, argument fragments...]

    def add(self, index: int, id: str | None = None, name: str | None = None, arguments: str = "") -> None:
        parts = self._calls.setdefault(index, ["", ""])
        parts[0] = id or parts[0]
        parts[1] = name or parts[1]
        if arguments:
            parts.append(arguments)

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(ToolCall.parse(p[0] or f"call_{i}", p[1], "".join(p[2:])) for i, p in sorted(self._calls.items()))


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the reply as it arrives. `shown=False`: a piece the reader is not sent (a tool
    call's name or argument fragment, a refusal, reasoning), yielded all the same because the
    provider bills it: a stream that ends early is booked for everything received."""

    text: str
    shown: bool = True


class StreamCancel:
    """Lets another thread stop a stream that is blocked reading (its client went away): closing
    the live response makes the read fail at once instead of at the read timeout."""

    def __init__(self) -> None:
        self.cancelled = False
        self._response: Any = None
        self._lock = threading.Lock()

    def attach(self, response: Any) -> None:
        with self._lock:
            self._response = response
            if self.cancelled:
                _hang_up(response)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            if self._response is not None:
                _hang_up(self._response)


def _hang_up(response: Any) -> None:
    """Shut the response's socket down: that wakes a read blocked in another thread, which closing
    the response (it waits for the connection's lock that reader holds) would not."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    try:
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class Provider(Protocol):
    """One configured model behind one wire protocol. `stream` yields text deltas (and the pieces
    not to show as `Delta(piece, shown=False)`) and ends with the whole reply; both raise
    ProviderError with a kind (see errors.ProviderError). A stream hands its live response to
    `cancel`, so that it can be stopped from another thread."""

    name: str

    def complete(self, request: ChatRequest, timeout: float) -> ProviderReply: ...

    def stream(
        self, request: ChatRequest, timeout: float, cancel: StreamCancel | None = None
    ) -> Iterator[Delta | ProviderReply]: ...

    def close(self) -> None: ...


def make_client(headers: dict[str, str]) -> httpx.Client:
    return httpx.Client(headers=headers, limits=httpx.Limits(max_connections=64, max_keepalive_connections=16))


def _parsed(url: str | httpx.URL) -> httpx.URL | None:
    try:
        return url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return None


def shown_url(url: str | httpx.URL) -> str:
    """The URL as the operator's log may name it: any credentials written into it (user:password@,
    which httpx sends as Basic auth; a query's values, such as ?api-key=) replaced by ***."""
    parsed = _parsed(url)
    if parsed is None:
        return "(a URL that does not parse)"
    if parsed.userinfo:
        parsed = parsed.copy_with(userinfo=b"***")
    if parsed.query:
        parsed = parsed.copy_with(query="&".join(f"{k}=***" for k in parsed.params).encode())
    return str(parsed)


def scrubbed(text: str, url: str | httpx.URL | None) -> str:
    """`text` (an exception's, a provider's) with the URL's credentials taken out, should it quote them."""
    parsed = None if url is None else _parsed(url)
    if parsed is None:
        return text
    raw = parsed.userinfo.decode("ascii", "replace")
    secrets = {raw, *raw.split(":", 1)[1:], parsed.password} if raw else set()
    secrets |= {parsed.query.decode("ascii", "replace"), *parsed.params.values()} if parsed.query else set()
    for secret in sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def failure(
    model: str,
    kind: str,
    public: str,
    detail: str,
    url: str | httpx.URL | None = None,
    *,
    status: int | None = None,
    retry_after: float | None = None,
) -> ProviderError:
    """A failed call: `public` is its text for callers (what failed, never where), `detail` the
    operator's, prefixed with the URL (credentials masked) and logged here, once per attempt."""
    if url is not None:
        detail = f"{shown_url(url)}: {scrubbed(detail, url)}"
    error = ProviderError(model, kind, public, detail=detail, status=status, retry_after=retry_after)
    log.warning("%s", error.detail)
    return error


def transport_error(model: str, url: str | httpx.URL, exc: Exception) -> ProviderError:
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return failure(model, "timeout", f"did not answer in time ({name})", f"did not answer in time ({name})", url)
    return failure(
        model,
        "connection",
        f"unreachable or the connection broke ({name})",
        f"unreachable or the connection broke ({name}: {exc})",
        url,
    )


# what servers answer when a model or server takes no tools: vLLM without --enable-auto-tool-choice,
# Ollama's "does not support tools", llama.cpp's server without --jinja
_UNSUPPORTED_MARKERS = (
    "does not support tool",
    "tool choice requires",
    "tools are not supported",
    "tool use is not supported",
    "tool calling is not supported",
)
_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "prompt is too long",
    "context window",
    "too many tokens",
)


# what a kind sorted from the provider's words means, said without them
_KIND_SAYS = {
    "unsupported": ": the model does not support tools",
    "context_length": ": the request is longer than the model's context window",
}


def status_error(model: str, url: str | httpx.URL, status: int, body: str, headers: httpx.Headers) -> ProviderError:
    """Sort an HTTP error into a kind: what to retry, what to fall back on, what to report."""
    low = body.lower()
    if status == 408:
        kind = "timeout"
    elif status == 409:
        kind = "conflict"
    elif status == 429:
        kind = "rate_limited"
    elif status in (503, 529) or "overloaded" in low:
        kind = "overloaded"
    elif status >= 500:
        kind = "server"
    elif status == 404:
        kind = "not_found"
    elif status in (401, 403):
        kind = "auth"
    elif any(m in low for m in _CONTEXT_MARKERS):
        kind = "context_length"
    elif any(m in low for m in _UNSUPPORTED_MARKERS):
        kind = "unsupported"
    else:
        kind = "bad_request"
    says = _KIND_SAYS.get(kind, "") or (_public_reason(body, url) if kind in ("bad_request", "not_found") else "")
    return failure(
        model,
        kind,
        f"the provider answered {status} ({kind}){says}",
        f"answered {status}: {_error_message(body)}",
        url,
        status=status,
        retry_after=parse_retry_after(headers),
    )


def _api_message(body: str) -> str:
    """The message of an API's structured error ({"error": {"message": ...}}, both dialects), or ''."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    err = data.get("error") if isinstance(data, dict) else None
    return str(err["message"]) if isinstance(err, dict) and err.get("message") else ""


def _error_message(body: str) -> str:
    return _api_message(body)[:300] or " ".join(body.split())[:300] or "(empty body)"


# a provider's reason is shown to its caller only if every word of it is one of these: plain words,
# small numbers, identifiers whose mixed letter-digit parts are short (gpt-4o-mini, max_tokens),
# field paths with an index (messages.0.content); anything else (an address, a host, a key, a
# token, an encoded URL) and the reason stays in the log: masking what looks dangerous missed
# IPv6, bare host names, Basic credentials and base64 keys (review 16b), a whitelist fails closed
_SAFE_WORD = re.compile(
    r"[A-Za-z][A-Za-z']*|\d{1,6}(?:\.\d{1,3})?|[A-Za-z_][A-Za-z_]*(?:\.\d{1,3}(?:\.[A-Za-z_]+)?)+"
    r"|(?:[A-Za-z_]+|[A-Za-z0-9_]{1,6})(?:-(?:[A-Za-z_]+|[A-Za-z0-9_]{1,6}))*"
)
_EDGES = "\"'`()[]{}<>,;:.!?*"


def _public_reason(body: str, url: str | httpx.URL | None) -> str:
    """Why the provider refused a request, for the caller who sent it (a field it rejected, a model
    it does not know): an API's structured message (a proxy's HTML page may name hosts) made only
    of _SAFE_WORD words, control characters dropped, clipped; "" otherwise."""
    text = " ".join("".join(c if c.isprintable() else " " for c in _api_message(body)).split())
    parsed = None if url is None else _parsed(url)
    if not text or (parsed is not None and len(parsed.host) >= 3 and parsed.host.lower() in text.lower()):
        return ""
    for word in text.split():
        core = word.strip(_EDGES)
        if core and not _SAFE_WORD.fullmatch(core):
            return ""
    return f": {text[:200]}"


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait, from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


def parse_json(model: str, url: str | httpx.URL, response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        what = "sent a body that is not JSON"
        raise failure(model, "malformed", what, f"{what}: {response.text[:200]!r}", url) from None
    if not isinstance(data, dict):
        what = "sent JSON that is not an object"
        raise failure(model, "malformed", what, what, url)
    return data


def sse_events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of a server-sent event stream."""
    event = ""
    data: list[str] = []
    for line in response.iter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "", []
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line.startswith("event:"):
            event = line[6:].strip()
    if data:
        yield event, "\n".join(data)
