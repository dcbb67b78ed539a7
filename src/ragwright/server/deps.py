"""What every endpoint module needs from the server, apart from the app itself: the error they
raise (ApiError) and its one JSON shape, the per-app state, and the authentication and scope
dependencies. Kept out of app.py so that the routers, which app.py includes, do not import it back."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio
from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..models.embedding import LocalMiniLM
from ..store.factory import scheme_of
from ..workspace import Workspace
from .ask_slots import AskSlots
from .audit import AuditWriter
from .auth import Principal, RateLimiter, StoreRateLimiter, principal_for
from .jobs import JobRunner


class ApiError(Exception):
    def __init__(self, status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.headers = status, type_, message, headers


UNEXPECTED = "an unexpected error: the server's log has the details"  # a 500's words, whole or streamed


def error_response(status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": type_, "message": message}}, status_code=status, headers=headers)


T = TypeVar("T")


class ServerState:
    def __init__(self, workspace: Workspace, workers: int = 1) -> None:
        self.ws = workspace
        # One process on its own SQLite file: buckets in memory. Several worker processes, or a store
        # other servers may share (PostgreSQL: replicas), keep one bucket per key in the store.
        self.remote_store = _shared_store(workspace)
        self.limiter: RateLimiter | StoreRateLimiter = (
            StoreRateLimiter(workspace.store) if workers > 1 or self.remote_store else RateLimiter()
        )
        embedder = workspace.embedder
        # A per-process cache of query vectors, shared by the workers of one server through a file:
        # a miss only costs an embedding, so replicas each keep their own (no promise rests on it).
        if workers > 1 and isinstance(embedder, LocalMiniLM):  # a query embedded by one worker serves all
            from ..models.shared_vectors import SharedVectors

            embedder.shared = SharedVectors(
                Path(workspace.settings.data_dir) / "query-vectors.db",
                f"{embedder.name}/{embedder.max_tokens}",
                embedder.dim,
            )
        self.audit: AuditWriter | None = None
        self.jobs = JobRunner(workspace)
        local = isinstance(embedder, LocalMiniLM)
        self.search_threads = workspace.settings.server.search_threads or (2 if local else 0)
        server = workspace.settings.server
        self.asks = AskSlots(server.ask_threads, server.ask_threads_per_tenant, server.ask_wait_s)  # ask_slots.py
        self.chats = AskSlots(server.chat_threads, server.chat_threads_per_tenant, server.chat_wait_s, "chat")
        self._search_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    async def in_search_slot(self, work: Callable[[], T]) -> T:
        """`work` on a worker thread, at most `search_threads` at once, the rest in arrival order.

        Why: a search that runs the in-process model is CPU work. Handed to the thread pool as it
        came, 16 of them shared one core under the GIL and finished at its whim: with 32 clients
        on 2 workers, p99 was 2.5-2.9x p50 (new queries, fused graph: 370 against 140 ms); taken
        in turn, 1.2-1.6x (157-244 ms) at the same requests/s (bench/server_load.py
        --new-queries). A remote model's search mostly waits, so it is not limited by default."""
        if not self.search_threads:
            return await run_in_threadpool(work)
        loop = asyncio.get_running_loop()  # a limiter belongs to its event loop (tests run several)
        slots = self._search_slots.get(loop)
        if slots is None:
            slots = self._search_slots[loop] = anyio.CapacityLimiter(self.search_threads)
        return await anyio.to_thread.run_sync(work, limiter=slots)


def _shared_store(workspace: Workspace) -> bool:
    """Whether the store's URL names a database other servers may use at once (not a SQLite file)."""
    url = workspace.settings.store.url.strip()
    return bool(url) and scheme_of(url) != "sqlite"


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.rw  # set by create_app
    return state


async def authenticated(request: Request) -> Principal:
    """On the event loop for a SQLite store: a hash and an indexed lookup take less than handing the
    request to a worker thread and back (FastAPI runs each sync dependency in the thread pool on its
    own). A database server's lookup goes to a thread: while it restarts, a wait for a connection
    (up to the pool's timeout, then 503) must not stop every other request."""
    header = request.headers.get("authorization", "")
    if not header[:7].lower() == "bearer " or not header[7:].strip():
        raise ApiError(
            401,
            "unauthorized",
            "missing API key: send 'Authorization: Bearer <key>' (create one with: "
            "ragwright keys create --tenant T --scopes read)",
        )
    state = state_of(request)
    if state.remote_store:  # a network round trip, or a wait for a pooled connection: not on the loop
        principal, wait = await run_in_threadpool(_admit, state, header[7:].strip())
    else:
        principal, wait = _admit(state, header[7:].strip())
    if principal is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key")
    request.state.principal = principal
    if wait is not None:
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit of {principal.rate_per_min} requests per minute reached; retry in {wait:.1f} s",
            {"Retry-After": str(max(1, round(wait + 0.5)))},
        )
    return principal


def _admit(state: ServerState, key: str) -> tuple[Principal | None, float | None]:
    """The key's principal (None: unknown or revoked), and the rate limiter's wait for it."""
    principal = principal_for(state.ws.store, key)
    if principal is None:
        return None, None
    return principal, state.limiter.take(principal.key_id, principal.rate_per_min)


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    async def check(principal: Principal = Depends(authenticated)) -> Principal:
        if not principal.can(scope):
            raise ApiError(
                403, "forbidden", f"this key lacks the '{scope}' scope (it has: {', '.join(principal.scopes)})"
            )
        return principal

    return check
