"""Where uploaded files live, and how their server paths are kept out of every response.

An upload is stored at `uploads/<tenant digest>/<scope digest>/<name>`, the scope being the
exact set of groups that may read it (none: the whole tenant). A document's identity follows
from that path, so the same file name uploaded for another group is another document: no key
can replace, or have a job read, a document outside the groups it uploads for. A second upload
of a name into the same scope replaces that document, which every key able to upload there can
already read.

File names keep their letters (any script): `日本.md` and `中国.md` stay two files. A name
that had to be changed gets a digest of the original, so two names never collapse into one."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .._uploads_layout import DIGEST, DIGEST_CHARS, FOLDER

_UNSAFE = re.compile(r"[^\w.\- ]+")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_CHARS]


def scope_folder(root: Path, tenant: str, groups: Sequence[str]) -> Path:
    """The folder of the uploads readable by exactly `groups` of `tenant`."""
    scope = "\n".join(sorted(set(groups)))
    return root / _digest(tenant) / _digest("groups\n" + scope)


def safe_name(filename: str) -> str | None:
    """A file name that is safe on disk and distinct for distinct originals; None when there is none."""
    base = Path(filename.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    if not cleaned:
        return None
    if cleaned != base:
        stem, suffix = Path(cleaned).stem, Path(cleaned).suffix
        cleaned = f"{stem}-{_digest(base)[:8]}{suffix}"
    if len(cleaned.encode("utf-8")) > 200:  # file systems stop at 255 bytes
        suffix = Path(cleaned).suffix[:20]
        cleaned = cleaned.encode("utf-8")[:150].decode("utf-8", "ignore") + "-" + _digest(base)[:8] + suffix
    return cleaned


class PathScrubber:
    """Removes the server's upload folders (and the data dir) from text leaving the server.

    Answers, refusal reasons, guard reports and notes quote a passage's location, which for an
    upload is a path under the data dir. Rewriting at the edge, for every response body, keeps
    paths out of texts that any layer builds, today's and tomorrow's."""

    def __init__(self, data_dir: Path) -> None:
        data = str(data_dir.resolve())
        # the path as UTF-8, and as JSON with ASCII escapes (json.dumps' default, which SSE events
        # use): a data dir named in any script is found in either
        forms = dict.fromkeys([data, json.dumps(data)[1:-1]])
        self._rules = []
        for form in forms:
            marker = form.encode()
            uploads = re.escape(marker + b"/" + FOLDER.encode())
            digest = DIGEST.encode()
            self._rules.append(
                (
                    marker,
                    re.compile(uploads + b"/" + digest + b"/(?:" + digest + b"/)?"),
                    re.compile(re.escape(marker) + rb"(?=/|\b|\\)"),
                )
            )

    def scrub(self, body: bytes) -> bytes:
        for marker, uploads, data in self._rules:
            if marker in body:  # the common case: one substring search per form, no match
                body = data.sub(b"<data dir>", uploads.sub(b"", body))
        return body


class PublicPathsMiddleware:
    """ASGI middleware: every response body, whole or streamed, goes out through a PathScrubber.
    A body with a Content-Length is rewritten whole (its length changes); a streamed one event
    by event (the server writes each SSE event in one piece)."""

    def __init__(self, app: Any, scrubber: PathScrubber) -> None:
        self.app, self.scrubber = app, scrubber

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scrub = self.scrubber.scrub
        start: dict[str, Any] = {}
        held: list[bytes] = []

        async def rewrite(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            sized = len(headers) != len(start.get("headers", []))
            if sized:
                held.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = scrub(b"".join(held))
                await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            if start:
                await send(start)
                start.clear()
            await send({**message, "body": scrub(message.get("body", b""))})

        await self.app(scope, receive, rewrite)
