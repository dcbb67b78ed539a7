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

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException

from .deps import error_response

FORM = b"application/x-www-form-urlencoded"
Receive = Callable[[], Awaitable[dict[str, Any]]]


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


class JsonBodies:
    """Bounds every request body but a multipart upload to `limit` bytes, and treats a body sent
    as `application/x-www-form-urlencoded` as JSON: that is what `curl -d '{...}'` sends without
    `-H 'Content-Type: application/json'`, and no endpoint takes a urlencoded form."""

    def __init__(self, app: Any, limit: int, uploads: int | None = None) -> None:
        self.app, self.limit, self.uploads = app, limit, uploads

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if kind.startswith(b"multipart/"):
            limit = self.uploads
            if limit is None:
                await self.app(scope, receive, send)
            elif (declared := headers.get(b"content-length", b"")).isdigit() and int(declared) > limit:
                await _refuse(scope, receive, send, limit, upload=True)
            else:
                await self.app(scope, _counted(receive, limit, upload=True), send)
            return
        if kind == FORM:
            scope = {
                **scope,
                "headers": [(k, b"application/json" if k == b"content-type" else v) for k, v in scope["headers"]],
            }
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await _refuse(scope, receive, send, self.limit)
            return
        await self.app(scope, _counted(receive, self.limit), send)


def _counted(receive: Receive, limit: int, upload: bool = False) -> Receive:
    seen = 0

    async def counted() -> dict[str, Any]:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit, upload)
        return message

    return counted


async def _refuse(scope: dict[str, Any], receive: Receive, send: Any, limit: int, upload: bool = False) -> None:
    """The 413 sent before the body is read (the connection is then closed by the server, which
    does not keep a half-read request alive)."""
    response = error_response(413, "too_large", too_large_message(limit, upload), {"Connection": "close"})
    await response(scope, receive, send)
