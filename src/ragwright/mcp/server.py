"""The MCP server: tools/list, tools/call, resources/list and resources/read over one workspace,
built on the official SDK's low-level `Server` (not its MCPServer: that lists the same
resources to every client, and here each caller sees its own).

Errors are typed, never a crash. A request the protocol cannot serve (an unknown tool, a URI
that names no document the caller may read, a revoked key) is a JSON-RPC error whose `data`
carries `{"type": ...}` as the REST API's errors do. A tool that ran and failed (arguments
that fail the schema, a question refused, the store unavailable) answers `isError: true` with
`{"error": {"type", "message"}}`: the model reads it and may try again."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import mcp_types as types
from mcp.server.caching import CacheHint
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from ..errors import ConfigError, InjectionBlocked, NotFoundError, RagwrightError, StoreUnavailable
from ..server.ask_slots import AskSlots
from ..server.deps import ApiError
from ..workspace import Workspace
from . import tools
from .tools import Caller, Output

log = logging.getLogger(__name__)
Context = ServerRequestContext[Any, Any]
Identify = Callable[[Context], Caller]  # who calls: raises ApiError when nobody may
T = TypeVar("T")


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[tools.Args]
    run: Callable[[Workspace, Any, Caller], Output]

    @functools.cached_property
    def schema(self) -> dict[str, Any]:
        """Made once: pydantic takes about 1 ms to build one (3 ms a tools/list, as long as the rest of it)."""
        return self.args.model_json_schema()

    def spec(self) -> types.Tool:
        hints = types.ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
        return types.Tool(name=self.name, description=self.description, input_schema=self.schema, annotations=hints)


TOOLS = {
    t.name: t
    for t in (
        Tool(
            "search",
            "Search the documents (hybrid keyword and semantic search): the best passages, each with its "
            "document, location and score.",
            tools.SearchArgs,
            tools.search,
        ),
        Tool(
            "ask",
            "Answer a question from the documents: every sentence cites its passages ([1], [2]); when the "
            "documents do not support an answer it abstains and says why.",
            tools.AskArgs,
            tools.ask,
        ),
        Tool(
            "list_documents",
            "List the documents (by source, a page at a time), each with the URI to read it as a resource.",
            tools.ListArgs,
            tools.list_documents,
        ),
    )
}


def build_server(
    ws: Workspace,
    identify: Identify,
    version: str = "",
    shown: Callable[[str], str] | None = None,
    asks: AskSlots | None = None,
) -> Server[Any]:
    """One MCP server over `ws`; `identify` tells each request's caller (stdio: the process's own,
    HTTP: the key of the request, authenticated before it reached the SDK). `shown`: how locations
    are shown in results (stdio with a key: as the HTTP API shows them, which its `source` filter
    matches; HTTP: its middleware rewrites every response already). `asks` (HTTP: the app's
    ask slots): the `ask` tool takes one of its tenant's, as /v1/ask does, and runs on the asks'
    threads; `identify` is then called on the loop for it, so it must not read the store."""
    public: Callable[[str], str] = shown or (lambda text: text)

    async def as_caller(ctx: Context, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args, caller)` in a worker thread (the workspace blocks), the caller identified in the
        same hop (a key's lookup reads the store). A caller refused is a JSON-RPC error."""

        def work() -> T:
            try:
                caller = identify(ctx)
            except ApiError as exc:
                raise MCPError(types.INVALID_REQUEST, exc.message, {"type": exc.type}) from None
            return fn(*args, caller)

        return await anyio.to_thread.run_sync(work)

    async def asked(ctx: Context, tool: Tool, args: Any, slots: AskSlots) -> Output:
        """The ask tool once its tenant holds an ask slot (503 busy beyond ask_wait_s: a tool error)."""
        try:
            caller = identify(ctx)
        except ApiError as exc:
            raise MCPError(types.INVALID_REQUEST, exc.message, {"type": exc.type}) from None
        tenant = caller.tenant if caller is not None else ""
        return await slots.run(tenant, functools.partial(tool.run, ws, args, caller))

    async def list_tools(ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[t.spec() for t in TOOLS.values()])

    async def call_tool(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = TOOLS.get(params.name)
        if tool is None:
            known = ", ".join(TOOLS)
            raise MCPError(
                types.INVALID_PARAMS, f"unknown tool '{params.name}' (tools: {known})", {"type": "unknown_tool"}
            )
        try:
            args = tool.args.model_validate(params.arguments or {})
        except ValidationError as exc:
            return failure("invalid_request", problems(exc))
        try:
            if tool.name == "ask" and asks is not None:
                out = await asked(ctx, tool, args, asks)
            else:
                out = await as_caller(ctx, tool.run, ws, args)
        except MCPError:
            raise
        except Exception as exc:  # noqa: BLE001  every failure of a tool is the model's to read, typed
            return failure(*error_of(exc))
        audited(ctx, out.doc_ids)
        text = public(json.dumps(out.data, ensure_ascii=False))
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=json.loads(text)
        )

    async def list_resources(ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        offset = _cursor(params.cursor if params else None)
        docs, following = await as_caller(ctx, tools.document_page, ws, offset)
        return types.ListResourcesResult(
            resources=[_resource(d, public) for d in docs], next_cursor=None if following is None else str(following)
        )

    async def read_resource(ctx: Context, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        try:
            doc, text = await as_caller(ctx, tools.read_document, ws, str(params.uri))
        except NotFoundError as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc), {"type": "not_found", "uri": str(params.uri)}) from None
        audited(ctx, [doc.doc_id])
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=params.uri, text=text, mime_type="text/plain")]
        )

    async def list_templates(
        ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[TEMPLATE])

    private = CacheHint(ttl_ms=0, scope="private")  # what a caller sees is its own, and changes with every write
    return Server(
        "ragwright",
        version=version,
        instructions="Search and ask over your documents; every answer cites its sources. "
        "Documents are resources (ragwright://documents/ID).",
        cache_hints={"resources/list": private, "resources/read": private, "tools/list": private},
        get_tool_input_schema=lambda name: TOOLS[name].schema if name in TOOLS else None,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
        on_list_resource_templates=list_templates,
    )


TEMPLATE = types.ResourceTemplate(
    uri_template=tools.URI_PREFIX + "{doc_id}",
    name="document",
    description="A document's text, by the doc_id that search, ask and list_documents give",
    mime_type="text/plain",
)


def _resource(doc: Any, public: Callable[[str], str]) -> types.Resource:
    return types.Resource(
        uri=tools.uri_of(doc.doc_id),
        name=doc.title or doc.source.rsplit("/", 1)[-1],
        description=public(f"{doc.format} document, {doc.n_chunks} chunks: {doc.source}"),
        mime_type="text/plain",
        size=doc.size or None,
    )


def _cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isdigit() or len(cursor) > 18:
        raise MCPError(types.INVALID_PARAMS, f"invalid cursor '{cursor[:40]}'", {"type": "invalid_request"})
    return int(cursor)


def audited(ctx: Context, doc_ids: list[str]) -> None:
    """Over HTTP, the documents a response showed go to the audit log, as for /v1."""
    if ctx.request is not None:
        ctx.request.state.doc_ids = doc_ids


def failure(kind: str, message: str) -> types.CallToolResult:
    error = {"error": {"type": kind, "message": message}}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(error, ensure_ascii=False))],
        structured_content=error,
        is_error=True,
    )


def problems(exc: ValidationError) -> str:
    """The first few problems, as the REST API words them (field: message)."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()[:5])


def error_of(exc: Exception) -> tuple[str, str]:
    """The REST API's error type for what a tool raised (server/app.py's handlers)."""
    if isinstance(exc, ApiError):
        return exc.type, exc.message
    if isinstance(exc, InjectionBlocked):
        return "injection_blocked", str(exc)
    if isinstance(exc, NotFoundError):
        return "not_found", str(exc)
    if isinstance(exc, StoreUnavailable):
        return "store_unavailable", str(exc)
    if isinstance(exc, (ConfigError, ValueError)):
        return "invalid_request", str(exc)
    if isinstance(exc, RagwrightError):
        return type(exc).__name__, str(exc)
    log.exception("an MCP tool failed")
    return "internal_error", f"the tool failed ({type(exc).__name__}); the server's log has the details"
