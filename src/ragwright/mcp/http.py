"""MCP over streamable HTTP at /mcp on `ragwright serve`, behind the REST API's keys.

Every HTTP request is authenticated before the SDK sees it, by the same dependency as /v1
(deps.authenticated: `Authorization: Bearer`, rate limits, revocation at the next request): no
key, or a bad one, is a 401 in the REST API's error shape (refusal()), and the audit log records the request.
The tools then read the principal of that very request, never one remembered from an earlier one.

Stateless and JSON responses: no MCP session lives in one process's memory, so any worker of
`serve --workers N` (or any replica) answers any request, and a session can never outlive or
change its key. The SDK's session manager runs in the app's lifespan, made anew at each start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import mcp_types as types
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..server.auth import Principal
from ..server.deps import ApiError, authenticated
from ..workspace import Workspace
from .server import Context, build_server

PATH = "/mcp"


def from_request(ctx: Context) -> Principal:
    """The principal McpEndpoint authenticated for the HTTP request carrying this message."""
    state = (ctx.request.scope.get("state") or {}) if ctx.request is not None else {}
    principal = state.get("principal")
    if not isinstance(principal, Principal):  # not through McpEndpoint: refuse rather than serve unscoped
        raise ApiError(401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'")
    return principal


class McpEndpoint:
    """The ASGI app at /mcp: authenticate, check the read scope, hand over to the SDK."""

    def __init__(self, server: Server[Any]) -> None:
        self.server = server
        self.manager: StreamableHTTPSessionManager | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            principal = await authenticated(Request(scope, receive))
            if not principal.can("read"):
                raise ApiError(
                    403, "forbidden", f"this key lacks the 'read' scope (it has: {', '.join(principal.scopes)})"
                )
            if self.manager is None:
                raise ApiError(503, "not_ready", "the MCP endpoint is starting or stopping")
        except ApiError as exc:
            await refusal(exc)(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self.manager = StreamableHTTPSessionManager(self.server, stateless=True, json_response=True)
        try:
            async with self.manager.run():
                yield
        finally:
            self.manager = None


def refusal(exc: ApiError) -> JSONResponse:
    """The REST API's error, `{"error": {"type", "message"}}`, that is a JSON-RPC error too (with
    a code, no id): an MCP client then shows the user why ("unknown or revoked API key"), where
    it would otherwise report only that the server answered 401."""
    error = {"code": types.INVALID_REQUEST, "type": exc.type, "message": exc.message, "data": {"type": exc.type}}
    return JSONResponse({"jsonrpc": "2.0", "id": None, "error": error}, exc.status, exc.headers)


def mount_mcp(app: FastAPI, ws: Workspace) -> None:
    """Serve MCP at /mcp (out of the OpenAPI schema), its session manager running with the app."""
    from .. import __version__

    asks = getattr(getattr(app.state, "rw", None), "asks", None)  # the ask slots /v1/ask takes too
    endpoint = McpEndpoint(build_server(ws, from_request, __version__, asks=asks))
    app.router.routes.append(Route(PATH, endpoint))
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state, endpoint.running():
            yield state

    app.router.lifespan_context = lifespan
