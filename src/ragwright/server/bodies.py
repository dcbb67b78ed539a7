"""Request bodies as the server takes them: bounded, and read as JSON when curl's `-d` calls them a form.

FastAPI reads a JSON body whole before any dependency runs, so a limit checked there comes
after a 60 MB body is in memory. Here a declared Content-Length over the limit is refused before
a byte is read, and a body without one (chunked) is counted as it arrives and refused the moment
it passes the limit. Not FastAPI's own `max_body_size`: it counts uploads too, and a route's own
limit (the upload route's would be the exception) is fixed when the module is imported; here
the limit is each app's setting, every 413 has the usual error shape, and multipart uploads
keep their own limit (ingest.max_file_mb, checked per file).

Reading `application/x-www-form-urlencoded` as JSON opens no cross-site hole: that type needs no
CORS preflight, but every endpoint that reads a body also needs an `Authorization` header, which
a cross-site page cannot send without one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from .deps import error_response

FORM = b"application/x-www-form-urlencoded"
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]  # (starlette.types.Receive)


class BodyTooLarge(HTTPException):
    """Raised from `receive`: FastAPI passes an HTTPException met while reading a body on as it
    is (any other error there becomes a 400), and the app's handler turns it into the usual
    `{"error": {"type": "too_large", ...}}`."""

    def __init__(self, limit: int, upload: bool = False) -> None:
        super().__init__(413, too_large_message(limit, upload))


def too_large_message(limit: int, upload: bool = False) -> str:
    size = f"{limit / (1024 * 1024):g} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
    if upload:
        return (
            f"the upload is larger than the limit of {size}: at most {MAX_UPLOAD_FILES} files of "
            "ingest.max_file_mb each in one request"
        )
    return (
        f"the request body is larger than the limit of {size} (server.max_body_mb); files are uploaded "
        "to POST /v1/documents as multipart/form-data"
    )


MAX_UPLOAD_FILES = 20  # files in one upload request: with ingest.max_file_mb, what bounds its body


def upload_limit(max_file_mb: float) -> int:
    """A multipart body is spooled to temporary files before the route sees a single file: bounded
    here as a whole, or one request could fill the disk."""
    return int(MAX_UPLOAD_FILES * max_file_mb * 1024 * 1024) + 256 * 1024  # and room for the form's parts


BODY_IDLE_S = 30.0  # the longest pause inside a request's body, whatever its time bound
UPLOAD_PATH = "/v1/documents"  # the one route that takes multipart files (documents_api.upload_documents)


class BodyLate(HTTPException):
    """Raised from `receive` when a body falls behind its time bounds (408): FastAPI passes an
    HTTPException met while reading a body on as it is."""


def timed_receive(
    receive: Receive,
    total_s: float,
    idle_s: float,
    *,
    setting: str,
    what: str = "the request's body",
    min_rate: float = 0.0,
    grace_s: float = 0.0,
) -> Receive:
    """`receive`, bounded: the whole body within `total_s` of its first read, no pause over
    `idle_s`, and never behind `min_rate` bytes a second counted from `grace_s` in (so a body of
    N bytes is done by grace + N / min_rate at the latest; 0: no minimum). Past a bound: BodyLate
    (408) naming `setting`. Once the body is whole, the reads that wait for the client to go
    away are not bounded. A byte every few seconds held an upload slot for all of its timeout
    (review 15b), and a JSON body sent a byte at a time held its connection for good."""
    started: float | None = None
    received, done = 0, False

    async def timed() -> MutableMapping[str, Any]:
        nonlocal started, received, done
        if done:  # the body is whole (or the client gone): nothing more is owed
            return await receive()
        now = time.monotonic()
        started = started or now
        deadline = started + total_s
        behind = started + grace_s + received / min_rate if min_rate > 0 else deadline
        wait = min(deadline - now, idle_s, behind - now)
        try:
            async with asyncio.timeout(max(wait, 0.0)):
                message = await receive()
        except TimeoutError:
            if deadline - now <= min(idle_s, behind - now):
                why = f"did not arrive within {total_s:g} s ({setting})"
            elif idle_s <= behind - now:
                why = f"stopped for over {idle_s:g} s"
            else:
                why = (
                    f"came slower than {min_rate / 1024:g} KB/s after its first {grace_s:g} s "
                    f"(server.upload_min_kb_s; {received} bytes in {now + max(wait, 0.0) - started:.0f} s)"
                )
            raise BodyLate(408, f"{what} {why}") from None
        received += len(message.get("body", b""))
        done = message["type"] != "http.request" or not message.get("more_body", False)
        return message

    return timed


class JsonBodies:
    """Bounds every request body to `limit` bytes, but a multipart upload to UPLOAD_PATH, to
    `uploads`; and treats a body sent as `application/x-www-form-urlencoded` as JSON: that is what
    `curl -d '{...}'` sends without `-H 'Content-Type: application/json'`, and no endpoint takes a
    urlencoded form. A multipart body sent anywhere else has the ordinary limit: FastAPI reads a
    JSON route's body whole, into memory, before its key is checked (review 15: 1 GB, no key).

    Every body but an upload's (which has its own bounds: documents_api.AdmittedFirst) must arrive
    whole within `timeout_s` ([server] body_timeout_s), with no pause over BODY_IDLE_S: 408
    otherwise. A client without a key sent a body's declared megabyte a byte at a time, and held
    its connection and the bytes so far for as long as it liked.

    A response that starts before its request's body was read whole (a 401 before an upload, a
    413, a timeout) closes the connection: kept alive, the server would read and throw away the
    rest of the body, however long it is."""

    def __init__(self, app: Any, limit: int, uploads: int | None = None, timeout_s: float = 30.0) -> None:
        self.app, self.limit, self.uploads, self.timeout_s = app, limit, uploads, timeout_s

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        declared = headers.get(b"content-length", b"")
        limit, upload = self.limit, False
        if kind.startswith(b"multipart/") and scope["method"] == "POST" and _route_path(scope) == UPLOAD_PATH:
            if self.uploads is None:
                await self.app(scope, receive, send)
                return
            limit, upload = self.uploads, True
        elif kind == FORM:
            scope = {
                **scope,
                "headers": [(k, b"application/json" if k == b"content-type" else v) for k, v in scope["headers"]],
            }
        if declared.isdigit() and int(declared) > limit:
            await _refuse(scope, receive, send, limit, upload)
            return
        if not upload:
            receive = timed_receive(receive, self.timeout_s, BODY_IDLE_S, setting="server.body_timeout_s")
        body = _Body(receive, limit, upload)
        sent = (declared.isdigit() and int(declared) > 0) or b"chunked" in headers.get(b"transfer-encoding", b"")
        if sent and scope.get("http_version", "1.1").startswith("1"):  # (HTTP/2 has no Connection header)
            send = body.closing(send)
        await self.app(scope, body.receive, send)


def _route_path(scope: dict[str, Any]) -> str:
    """The path as the app's routes see it (without a proxy's root_path)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class _Body:
    """A request body read through `receive`, counted against its limit, and whether it was read to
    its end when the response starts."""

    def __init__(self, receive: Receive, limit: int, upload: bool) -> None:
        self._receive, self.limit, self.upload = receive, limit, upload
        self.seen, self.done = 0, False

    async def receive(self) -> MutableMapping[str, Any]:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                raise BodyTooLarge(self.limit, self.upload)
            self.done = not message.get("more_body", False)
        return message

    def closing(self, send: Any) -> Any:
        async def closing_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and not self.done:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        return closing_send


async def _refuse(scope: dict[str, Any], receive: Receive, send: Any, limit: int, upload: bool = False) -> None:
    """The 413 sent before the body is read (the connection is then closed by the server, which
    does not keep a half-read request alive)."""
    response = error_response(413, "too_large", too_large_message(limit, upload), {"Connection": "close"})
    await response(scope, receive, send)
