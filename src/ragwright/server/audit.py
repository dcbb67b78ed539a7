"""Every request, recorded: time, key, tenant, endpoint, status, documents touched. A pure ASGI
middleware (streams pass through untouched) hands entries to a writer thread that commits them
in small batches, so auditing adds no write transaction to the request's own path."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..store.contract import AuditEntry, AuditStore
from .auth import Principal

FLUSH_S = 0.05


class AuditWriter:
    """Entries go to a deque; the writer thread is woken once per batch, not once per request (a
    queue.Queue notified it on every put: a tenth of a busy server's time went to the wake-ups)."""

    MAX_PENDING = 100_000

    def __init__(self, store: AuditStore) -> None:
        self.store = store
        self._pending: deque[AuditEntry] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="ragwright-audit", daemon=True)
        self._thread.start()

    def add(self, entry: AuditEntry) -> None:
        if len(self._pending) >= self.MAX_PENDING:  # never block a request: the disk is far behind
            self.store.write_audit([entry])
            return
        self._pending.append(entry)
        if not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if not self._stopping:
                time.sleep(FLUSH_S)  # let the batch gather
            self._wake.clear()  # before draining: an entry added after this sets it again
            batch = []
            while self._pending:
                batch.append(self._pending.popleft())
            if batch:
                try:
                    self.store.write_audit(batch)
                except Exception:  # noqa: BLE001  the audit must not take the server down; retry once
                    time.sleep(0.1)
                    self.store.write_audit(batch)
            if self._stopping and not self._pending:
                return

    def close(self) -> None:
        """Write what is queued, then stop."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=10)


class AuditMiddleware:
    def __init__(self, app: ASGIApp, writer_of: Callable[[], AuditWriter | None]) -> None:
        self.app = app
        self.writer_of = writer_of  # the AuditWriter, created in the lifespan

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
                writer.add(
                    (
                        time.time(),
                        principal.key_id if principal else None,
                        principal.tenant if principal else None,
                        scope["method"],
                        scope["path"],
                        status["code"],
                        list(state.get("doc_ids", ())),
                        (time.perf_counter() - started) * 1000,
                    )
                )
