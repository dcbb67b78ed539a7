"""Every request, recorded: time, key, tenant, endpoint, status, documents touched. A pure ASGI
middleware (streams pass through untouched) hands entries to a writer thread that commits them
in small batches, so auditing adds no write transaction to the request's own path."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

FLUSH_S = 0.05


class AuditWriter:
    def __init__(self, store: Any) -> None:
        self.store = store
        self._queue: queue.Queue[tuple | None] = queue.Queue(maxsize=100_000)
        self._thread = threading.Thread(target=self._run, name="ragwright-audit", daemon=True)
        self._thread.start()

    def add(self, entry: tuple) -> None:
        try:
            self._queue.put_nowait(entry)
        except queue.Full:  # never block a request; a full queue means the disk is far behind
            self.store.write_audit([entry])

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[tuple] = []
            item = self._queue.get()
            deadline = time.monotonic() + FLUSH_S
            while True:
                if item is None:
                    stop = True
                    break
                batch.append(item)
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            try:
                self.store.write_audit(batch)
            except Exception:  # noqa: BLE001  the audit must not take the server down; retry once
                time.sleep(0.1)
                self.store.write_audit(batch)

    def close(self) -> None:
        """Write what is queued, then stop."""
        self._queue.put(None)
        self._thread.join(timeout=10)


class AuditMiddleware:
    def __init__(self, app: Any, writer_of: Any) -> None:
        self.app = app
        self.writer_of = writer_of  # app -> AuditWriter (created in the lifespan)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in ("/healthz", "/readyz", "/") or path.startswith("/ui/"):  # no data
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            state = scope.get("state") or {}
            principal = state.get("principal")
            writer = self.writer_of()
            if writer is not None:
                writer.add((time.time(), getattr(principal, "key_id", None), getattr(principal, "tenant", None),
                            scope["method"], scope["path"], status["code"], list(state.get("doc_ids", ())),
                            (time.perf_counter() - started) * 1000))
