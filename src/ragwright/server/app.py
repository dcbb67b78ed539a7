"""The HTTP server: FastAPI app factory, errors in one shape, health, keys, lifespan.

Every error is `{"error": {"type", "message"}}` with the right status. Every endpoint but
/healthz, /readyz and the web UI's static files (`/`, `/ui/*`: no data in them) needs
`Authorization: Bearer <key>`."""

from __future__ import annotations

import gc
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    BudgetExceeded,
    ConfigError,
    InjectionBlocked,
    NotFoundError,
    QuestionError,
    RagwrightError,
    StoreUnavailable,
)
from ..models.ledger import period_end
from ..workspace import Workspace
from .audit import AuditMiddleware, AuditWriter
from .bodies import JsonBodies, upload_limit
from .deps import UNEXPECTED, ApiError, ServerState, error_response
from .error_schema import ERROR_RESPONSES, shared_error_responses
from .http_protocol import lifespan_options
from .jobs import JobRunner
from .private import make_private
from .uploads import PathScrubber, PublicPathsMiddleware

_log = logging.getLogger("ragwright.server")


def app_from_env() -> FastAPI:
    """The app of one worker process when `ragwright serve --workers N` runs several."""
    config = os.environ.get("RAGWRIGHT_SERVE_CONFIG")
    return create_app(
        os.environ.get("RAGWRIGHT_SERVE_DATA_DIR") or None,
        config_file=Path(config) if config else None,
        workers=int(os.environ.get("RAGWRIGHT_SERVE_WORKERS", "1")),
    )


def create_app(
    data_dir: str | Path | None = None,
    *,
    config_file: Path | None = None,
    workspace: Workspace | None = None,
    workers: int = 1,
) -> FastAPI:
    ws = workspace or Workspace(data_dir, config_file=config_file)
    state = ServerState(ws, workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        umask = make_private(Path(ws.settings.data_dir))  # uploads 0600, folders 0700, while serving
        state.audit = AuditWriter(ws.store, ws.settings.observe.audit_retention_days)
        state.jobs = JobRunner(ws)  # a fresh thread each time the app starts
        state.jobs.start()
        threading.Thread(target=_warm_up, args=(ws,), name="ragwright-warm-up", daemon=True).start()
        yield lifespan_options(ws.settings.server)  # for the connections' protocol (http_protocol.py)
        state.jobs.stop()  # the current document finishes; the rest of the job resumes on restart
        state.audit.close()
        if workspace is None:  # its gateway too
            ws.close()
        os.umask(umask)

    app = FastAPI(
        title="ragwright",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description='Cited, grounded answers from your own documents. Errors: {"error": {"type", '
        "\"message\"}}. Authenticate with 'Authorization: Bearer <key>'.",
    )
    app.state.rw = state
    app.add_middleware(
        JsonBodies,
        limit=int(ws.settings.server.max_body_mb * 1024 * 1024),  # 413 as it arrives
        uploads=upload_limit(ws.settings.ingest.max_file_mb),
        timeout_s=ws.settings.server.body_timeout_s,  # 408 for a body that trickles
    )
    app.add_middleware(AuditMiddleware, writer_of=lambda: state.audit)
    app.add_middleware(PublicPathsMiddleware, scrubber=PathScrubber(Path(ws.settings.data_dir)))  # no server path
    _install_error_handlers(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    not_ready = ERROR_RESPONSES[503] | {"description": "not_ready: the store or the embedding model cannot load"}

    @app.get("/readyz", tags=["health"], responses={503: not_ready})
    def readyz() -> JSONResponse:
        try:
            ws.store.get_meta("generation")
            getattr(ws.embedder, "warm_up", lambda: None)()  # loads the model once
        except RagwrightError as exc:
            return error_response(503, "not_ready", str(exc))
        return JSONResponse({"status": "ready"})

    from .keys_api import router as keys_router
    from .observe_api import router as observe_router
    from .openai_api import router as openai_router
    from .routes import router

    for each in (router, openai_router, observe_router, keys_router):  # the schema declares their errors' shape
        app.include_router(each, prefix="/v1", responses=ERROR_RESPONSES)
    app.openapi = shared_error_responses(app)  # type: ignore[method-assign]
    from ..ui import mount_ui

    mount_ui(app)  # the web UI at /: static assets only; its data comes through /v1 with the user's key
    from ..mcp.http import mount_mcp

    mount_mcp(app, ws)  # MCP over streamable HTTP at /mcp, behind the same keys
    return app


def _warm_up(ws: Workspace) -> None:
    """Indexes and the embedding model loaded before the first search needs them; then what the
    process holds for good is frozen out of the garbage collector's full passes, which otherwise
    walked it all every few seconds under load (25-60 ms with the loop stopped, a whole batch of
    requests late)."""
    try:
        ws.store.warm()
        getattr(ws.embedder, "warm_up", lambda: None)()  # loads the model
    except Exception:  # noqa: BLE001  a store or model that cannot load fails the first request, with its own error
        return
    gc.freeze()


def _version() -> str:
    from .. import __version__

    return __version__


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.type, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )
        return error_response(422, "invalid_request", problems or "the request body is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed", 408: "timeout", 413: "too_large"}.get(
            exc.status_code, "http_error"
        )
        return error_response(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, exc: NotFoundError) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(QuestionError)
    async def bad_question(_: Request, exc: QuestionError) -> JSONResponse:
        return error_response(
            400, "injection_blocked" if isinstance(exc, InjectionBlocked) else "invalid_request", str(exc)
        )

    @app.exception_handler(ConfigError)
    async def config_error(_: Request, exc: ConfigError) -> JSONResponse:
        return error_response(400, "invalid_request", str(exc))

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        """The database restarting or every pooled connection busy: worth trying again shortly."""
        retry = {"Retry-After": str(max(1, round(exc.retry_after_s)))}
        return error_response(503, "store_unavailable", str(exc), retry)

    @app.exception_handler(BudgetExceeded)
    async def over_budget(_: Request, exc: BudgetExceeded) -> JSONResponse:
        """A call that would take a budget past its limit, refused before it was sent: 429, as the
        key's rate limit is, with Retry-After at the end of the budget's period (none for a
        "total" budget). It was a 500, which clients retry at once."""
        end = period_end(exc.period)
        retry = {"Retry-After": str(max(1, math.ceil(end - time.time())))} if end is not None else None
        return error_response(429, "budget_exceeded", str(exc), retry)

    @app.exception_handler(RagwrightError)
    async def other(_: Request, exc: RagwrightError) -> JSONResponse:
        return error_response(502 if "model" in type(exc).__name__.lower() else 500, type(exc).__name__, str(exc))

    @app.exception_handler(ValueError)
    async def value_error(_: Request, exc: ValueError) -> JSONResponse:
        return error_response(400, "invalid_request", str(exc))

    @app.exception_handler(sqlite3.Error)
    async def sqlite_error(_: Request, exc: sqlite3.Error) -> JSONResponse:
        """SQLite's own errors, raised while a request reads or writes (a writer holding the file
        past the busy timeout, a full disk, a damaged file): the API's JSON shape, not a bare
        "Internal Server Error"; a busy file is worth retrying, the others need the operator."""
        message = str(exc)
        if "locked" in message or "busy" in message:
            return error_response(
                503, "store_unavailable", f"the store is busy ({message}): try again", {"Retry-After": "1"}
            )
        _log.error("store error while serving a request: %s", message)
        return error_response(500, "store_error", f"the store failed ({message}): the server's log has more")

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        """Anything else, in the API's shape without details (Starlette re-raises it afterwards, so
        the server logs its traceback)."""
        return error_response(500, "internal_error", UNEXPECTED)
