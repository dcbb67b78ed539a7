"""`ragwright mcp`: the MCP server over stdin and stdout, for a desktop assistant that starts it.

Without a key the process reads what its user can: every document of the data dir, as the CLI
does. With one (--key or $RAGWRIGHT_API_KEY) it reads what that key may over HTTP, its tenant and
groups, and the key is looked up at every request: revoking it stops the running server too."""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.stdio import stdio_server

from ..server.auth import Principal, principal_for
from ..server.deps import ApiError
from ..server.uploads import PathScrubber
from ..workspace import Workspace
from .server import build_server
from .tools import Caller


def keyholder(ws: Workspace, key: str) -> Principal:
    """The key's principal, if it may read; ApiError (401/403) otherwise."""
    principal = principal_for(ws.store, key)
    if principal is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    if not principal.can("read"):
        raise ApiError(403, "forbidden", f"this key lacks the 'read' scope (it has: {', '.join(principal.scopes)})")
    return principal


def serve_stdio(ws: Workspace, key: str | None = None) -> None:
    """Serve until the client closes stdin. A key that cannot read fails here, before serving."""
    if key is not None:
        keyholder(ws, key)

    def identify(_: Any) -> Caller:
        return None if key is None else keyholder(ws, key)

    from .. import __version__

    shown = None
    if key is not None:  # sources as the HTTP API shows them to a key: what its `source` filter matches
        scrubber = PathScrubber(ws.settings.data_dir)
        shown = lambda text: scrubber.scrub(text.encode()).decode()  # noqa: E731
    server = build_server(ws, identify, __version__, shown)

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(run)
