"""Every request, recorded: time, key, tenant, method, route, path, status, documents touched. A
pure ASGI middleware (streams pass through untouched) hands entries to a writer thread that
commits them in small batches, so auditing adds no write transaction to the request's own path.

What a caller without a valid key sends must not be able to fill the store: the path is kept
clipped (256 characters, beside the matched route's template), and such requests (401s, 404s of
made-up paths, ...) are grouped per minute, address, method, route and status: a group's first
request is a row at once, the rest of its minute one row with their count, written when the
minute is over; at most ANON_GROUPS_PER_MINUTE groups a minute (the rest counted in one row per
status). The log's retention is [observe] audit_retention_days."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import fastapi.routing
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..store.contract import AuditEntry, AuditStore
from ..store.contract.data import clip_audit_text
from .auth import Principal

FLUSH_S = 0.05
UNMATCHED = "(no route)"  # the route of a request that matched none
OTHERS = "(others)"  # address and route of the row counting anonymous requests past the cap
RETENTION_EVERY_S = 3600.0
RETRY_CAP_S = 5.0  # the longest wait between two attempts at writing a failed batch
# Rows of requests without a valid key are kept this long, whatever audit_retention_days says
# (0 keeps keyed rows for good): bounded in number per minute, they still added up (~40 MB a day
# per process, review 15b), and an attempt from a month ago is in the server's logs too.
ANONYMOUS_RETENTION_DAYS = 30.0
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # others are one group
UNMATCHED_PATH_CHARS = 64  # what is kept of a path that matched no route: a probe's first words
log = logging.getLogger(__name__)


class AuditWriter:
    """Entries go to a deque; the writer thread is woken once per batch, not once per request (a
    queue.Queue notified it on every put: a tenth of a busy server's time went to the wake-ups).
    Entries without a key after their group's first are counted in memory until their minute is
    over, then written as one row."""

    MAX_PENDING = 100_000
    ANON_GROUPS_PER_MINUTE = 50  # ~35 KB a minute per process at most, from any number of addresses
    ANON_GROUPS_PER_ADDRESS = 8  # one address's share of them; its other requests in one group a status

    def __init__(self, store: AuditStore, retention_days: float = 0.0) -> None:
        self.store = store
        self.retention_days = retention_days
        self._pending: deque[AuditEntry] = deque()
        # (client, method, route, status) -> [at, endpoint, count, ms] of the group's requests after its first
        self._anon: dict[tuple[str | None, str, str, int], list[Any]] = {}
        self._anon_by_address: dict[str | None, int] = {}  # this minute's groups of each address
        self._anon_minute = 0
        self._anon_lock = threading.Lock()
        self._next_retention = 0.0  # monotonic time; at once, then every RETENTION_EVERY_S
        self._wake = threading.Event()
        self._stopping = False
        self._failures = 0  # write failures in a row
        self._thread = threading.Thread(target=self._run, name="ragwright-audit", daemon=True)
        self._thread.start()
        self._wake.set()  # the retention runs when the server starts

    def add(self, entry: AuditEntry) -> None:
        if entry[1] is None:  # no valid key: counted, not one row each
            self._fold(entry)
            return
        if len(self._pending) >= self.MAX_PENDING:  # never block a request: the disk is far behind
            self.store.write_audit([entry])
            return
        self._pending.append(entry)
        if not self._wake.is_set():
            self._wake.set()

    def _fold(self, entry: AuditEntry) -> None:
        at, method, endpoint, status, latency = entry[0], entry[3], entry[4], entry[5], entry[7]
        route, client = (entry[8], entry[9]) if len(entry) > 8 else ("", None)
        method = method if method in METHODS else "OTHER"  # PROPFIND, MKCOL...: 26 groups from one address
        if route == UNMATCHED:
            endpoint = clip_audit_text(endpoint, UNMATCHED_PATH_CHARS)
        entry = (*entry[:3], method, endpoint, *entry[5:8], route, client, 1)
        minute = int(at // 60)
        with self._anon_lock:
            if minute > self._anon_minute:  # (a request that ended just before the minute did joins this one)
                self._close_minute(force=True)
                self._anon_minute = minute
            if not self._anon:  # the writer learns when this minute's rows are due
                self._wake.set()
            key = (client, method, route, status)
            group = self._anon.get(key)
            if group is None and self._anon_by_address.get(client, 0) >= self.ANON_GROUPS_PER_ADDRESS:
                key = (client, "*", OTHERS, status)
                group = self._anon.get(key)
            if group is None and len(self._anon) >= self.ANON_GROUPS_PER_MINUTE:
                key = (OTHERS, "*", OTHERS, status)  # statuses are the server's own: few
                group = self._anon.get(key)
            if group is None:
                group = self._anon[key] = [at, endpoint, 0, 0.0]
                self._anon_by_address[key[0]] = self._anon_by_address.get(key[0], 0) + 1
                if key[0] != OTHERS:  # a group's first request is written at once: an operator sees it now
                    self._pending.append(entry)
                    self._wake.set()
                    return
            if not group[2]:  # the remainder's row shows its own first request
                group[0], group[1] = at, endpoint
            group[2] += 1
            group[3] += latency

    def _close_minute(self, force: bool) -> None:
        """Queue the folded rows of a minute that is over (any minute when `force`); holding _anon_lock."""
        if not self._anon or (not force and int(time.time() // 60) <= self._anon_minute):
            return
        for (client, method, route, status), (at, endpoint, count, ms) in self._anon.items():
            if count:  # the group's requests after its first
                self._pending.append((at, None, None, method, endpoint, status, [], ms / count, route, client, count))
        self._anon, self._anon_by_address = {}, {}

    def _until_minute_ends(self) -> float | None:
        if not self._anon:
            return RETENTION_EVERY_S  # the retention's next run
        return max(0.0, (self._anon_minute + 1) * 60 - time.time()) + FLUSH_S

    def _run(self) -> None:
        while True:
            self._wake.wait(self._until_minute_ends())
            if not self._stopping:
                time.sleep(FLUSH_S)  # let the batch gather
            self._wake.clear()  # before draining: an entry added after this sets it again
            with self._anon_lock:
                self._close_minute(force=self._stopping)
            batch = []
            while self._pending:
                batch.append(self._pending.popleft())
            if batch and not self._write(batch):
                if self._stopping:
                    return  # logged: the server stops, the store is failing
                time.sleep(min(RETRY_CAP_S, 0.1 * 2**self._failures))  # back off; the entries stay queued
                self._wake.set()
                continue
            self._apply_retention()
            if self._stopping and not self._pending:
                return

    def _write(self, batch: list[AuditEntry]) -> bool:
        """Whether the batch was written; if not, it goes back to the front of the queue and the
        failure is logged (the writer thread once died on a second failure, and the server went
        on unaudited without a word)."""
        try:
            self.store.write_audit(batch)
        except Exception:  # the audit must not take the server down
            self._failures += 1
            self._pending.extendleft(reversed(batch))
            log.exception("audit: %d entries not written (failure %d): kept, retried", len(batch), self._failures)
            return False
        if self._failures:
            log.warning("audit: writing again after %d failures", self._failures)
            self._failures = 0
        return True

    def _apply_retention(self) -> None:
        if time.monotonic() < self._next_retention:
            return
        self._next_retention = time.monotonic() + RETENTION_EVERY_S
        passes = [(self.retention_days, False)] if self.retention_days > 0 else []
        if not 0 < self.retention_days <= ANONYMOUS_RETENTION_DAYS:  # else the pass above covers them
            passes.append((ANONYMOUS_RETENTION_DAYS, True))
        for kept_days, without_key in passes:
            try:
                gone = self.store.delete_audit_before(time.time() - kept_days * 86400, without_key)
            except Exception:
                log.exception("audit retention failed")
                return
            if gone:
                who = "of requests without a key " if without_key else ""
                log.info("audit retention: %d rows %solder than %g days deleted", gone, who, kept_days)

    def close(self) -> None:
        """Write what is queued (the current minute's folded rows too), then stop."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=10)


class RouteTemplates:
    """The full path template of the route that handled a request (`/v1/documents/{doc_id}`).
    The router sets scope["route"] to the route as its own router declared it: with FastAPI's
    included routers that is `/documents/{doc_id}`, without the `/v1` prefix, so the app's
    routes are listed once with their full paths (fastapi.routing.iter_route_contexts; a FastAPI
    without it copies included routes with their full path). A middleware that passed a copy of
    the scope on hides scope["route"]: the path is then matched against that list."""

    def __init__(self) -> None:
        self._full: dict[int, str] | None = None  # id(route as scope["route"] has it) -> full path
        self._table: list[tuple[re.Pattern[str], frozenset[str] | None, str]] = []

    def __call__(self, scope: Scope) -> str:
        if self._full is None:
            self._build(scope.get("app"))
        assert self._full is not None
        route = scope.get("route")
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return clip_audit_text(self._full.get(id(route), path))
        partial = None
        for regex, methods, template in self._table:
            if regex.match(scope.get("path", "")):
                if methods is None or scope["method"] in methods:
                    return template
                partial = partial or template  # the router's 405
        return partial or UNMATCHED

    def _build(self, app: Any) -> None:
        routes = list(getattr(app, "routes", ()))
        contexts = getattr(fastapi.routing, "iter_route_contexts", None)  # older FastAPI: full paths already
        listed = [(c.original_route, c.path, c.methods) for c in contexts(routes)] if contexts else []
        listed = listed or [(r, getattr(r, "path", None), getattr(r, "methods", None)) for r in routes]
        self._full, self._table = {}, []
        for route, path, methods in listed:
            if isinstance(path, str) and path:
                self._full.setdefault(id(route), path)
                regex = compile_path(path)[0]
                self._table.append((regex, frozenset(methods) if methods else None, clip_audit_text(path)))


class AuditMiddleware:
    def __init__(self, app: ASGIApp, writer_of: Callable[[], AuditWriter | None]) -> None:
        self.app = app
        self.writer_of = writer_of  # the AuditWriter, created in the lifespan
        self.route_template = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in ("/healthz", "/readyz", "/") or path.startswith("/ui/"):  # no data
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            state = scope.get("state") or {}
            principal: Principal | None = state.get("principal")  # set by deps.authenticated
            writer = self.writer_of()
            if writer is not None:
                client = scope.get("client")
                writer.add(
                    (
                        time.time(),
                        principal.key_id if principal else None,
                        principal.tenant if principal else None,
                        clip_audit_text(scope["method"], 16),
                        clip_audit_text(path),
                        status["code"],
                        list(state.get("doc_ids", ())),
                        (time.perf_counter() - started) * 1000,
                        self.route_template(scope),
                        clip_audit_text(str(client[0]), 64) if client else None,
                        1,
                    )
                )
