"""The server's HTTP/1.1 protocol: uvicorn's (httptools), with a deadline for a request's headers
and a way for the app to drop a connection whose client stopped reading.

uvicorn bounds nothing before a request's headers are whole: a connection that sends nothing, or
half a request line, is held for good (a kept-alive connection has `timeout_keep_alive`, a new one
nothing). With `[server] max_connections` (uvicorn's `limit_concurrency`, which counts open
connections) that let a few hundred silent sockets turn every real request away with 503 for as
long as they stayed; without it, they held file descriptors until the process had none left for
its store. Here a connection has `[server] header_timeout_s` from its opening (and from the first
byte of each later request) to finish a request's headers: a silent one is closed, one that
started a request gets 408 and is closed. The body's own bound is bodies.JsonBodies'.

A streamed answer whose client keeps its connection but reads nothing is stopped after `[server]
stream_stall_s` (ask_stream.relay), but its last send waits for good, and the connection with it:
uvicorn's close, and asyncio's, first send what is buffered, which such a client never takes.
The scope's ABORT extension resets the connection instead (SO_LINGER 0, then the transport's
abort): the buffered events are dropped, the blocked send returns, the client sees a reset.

The app hands its settings over in its lifespan state (`lifespan_options`), which uvicorn gives to
each connection's protocol: one path for `ragwright serve`, its worker processes (workers.py) and
any `uvicorn.run(create_app(), **server_options(settings))`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import Callable, Mapping
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..config import ServerSettings

HEADER_TIMEOUT = "ragwright.header_timeout_s"  # the key of the lifespan state that holds the deadline
ABORT = "ragwright.abort"  # the scope's extension: {"abort": a callable that resets the connection}


def lifespan_options(settings: ServerSettings) -> dict[str, Any]:
    """What the app's lifespan yields for this protocol to find in its `app_state`."""
    return {HEADER_TIMEOUT: settings.header_timeout_s}


def server_options(settings: ServerSettings) -> dict[str, Any]:
    """uvicorn's options that [server] sets: this protocol and the connections a process holds."""
    return {"http": BoundedProtocol, "limit_concurrency": settings.max_connections or None}


def connection_abort(scope: Mapping[str, Any]) -> Callable[[], None] | None:
    """What resets the request's connection, when the server offers it (not under a test client)."""
    abort: Callable[[], None] | None = scope.get("extensions", {}).get(ABORT, {}).get("abort")
    return abort


class BoundedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection whose request headers come too late, and
    offering each request's app a way to reset its connection (ABORT)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._headers_due: asyncio.TimerHandle | None = None
        self._begun = False  # a request's first bytes came: a late one is answered 408, not dropped

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {**self.scope.get("extensions", {}), ABORT: {"abort": self._reset}}
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

    def _reset(self) -> None:
        """Drop the connection and what waits to be sent on it: a reset (RST), not a close, which
        would wait for the client to read it all."""
        if self.transport.is_closing() and self.transport.get_write_buffer_size() == 0:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # gone meanwhile
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()
