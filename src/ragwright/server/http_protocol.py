"""The server's HTTP/1.1 protocol: uvicorn's (httptools), with a deadline for a request's headers.

uvicorn bounds nothing before a request's headers are whole: a connection that sends nothing, or
half a request line, is held for good (a kept-alive connection has `timeout_keep_alive`, a new one
nothing). With `[server] max_connections` (uvicorn's `limit_concurrency`, which counts open
connections) that let a few hundred silent sockets turn every real request away with 503 for as
long as they stayed; without it, they held file descriptors until the process had none left for
its store. Here a connection has `[server] header_timeout_s` from its opening (and from the first
byte of each later request) to finish a request's headers: a silent one is closed, one that
started a request gets 408 and is closed. The body's own bound is bodies.JsonBodies'.

The app hands its settings over in its lifespan state (`lifespan_options`), which uvicorn gives to
each connection's protocol: one path for `ragwright serve`, its worker processes (workers.py) and
any `uvicorn.run(create_app(), **server_options(settings))`."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..config import ServerSettings

HEADER_TIMEOUT = "ragwright.header_timeout_s"  # the key of the lifespan state that holds the deadline


def lifespan_options(settings: ServerSettings) -> dict[str, Any]:
    """What the app's lifespan yields for this protocol to find in its `app_state`."""
    return {HEADER_TIMEOUT: settings.header_timeout_s}


def server_options(settings: ServerSettings) -> dict[str, Any]:
    """uvicorn's options that [server] sets: this protocol and the connections a process holds."""
    return {"http": HeaderDeadlineProtocol, "limit_concurrency": settings.max_connections or None}


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request headers come too late."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._headers_due: asyncio.TimerHandle | None = None
        self._begun = False  # a request's first bytes came: a late one is answered 408, not dropped

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun = True
        if self._headers_due is None:  # the next request on a kept-alive connection
            self._await_headers()

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        self._begun = False
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        timeout = self.app_state.get(HEADER_TIMEOUT)
        if timeout:
            self._headers_due = self.loop.call_later(timeout, self._headers_late, timeout)

    def _stop_waiting(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def _headers_late(self, timeout: float) -> None:
        self._headers_due = None
        if self.transport.is_closing():
            return
        if self._begun:
            message = f"the request's headers did not arrive within {timeout:g} s (server.header_timeout_s)"
            body = json.dumps({"error": {"type": "timeout", "message": message}}).encode()
            self.transport.write(
                b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
        self.transport.close()
