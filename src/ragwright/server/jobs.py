"""Ingestion jobs: uploads are saved first, then ingested by one background thread with
progress in the store. A job a stopped server left queued or running is resumed when it starts
again (re-ingesting skips what was already stored).

With several worker processes, one of them runs the jobs: the one holding an exclusive lock on
`jobs.lock` in the data dir. It finds jobs queued by the others in the store; when it dies the
kernel drops its lock and another worker takes over."""

from __future__ import annotations

import fcntl
import queue
import threading
from pathlib import Path
from typing import Any

from ..types import Access


class JobCancelled(Exception):
    """The server is stopping: the job stays 'running' in the store and is resumed on restart."""


class JobRunner:
    def __init__(self, workspace: Any) -> None:
        self.ws = workspace
        self.store = workspace.store
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ragwright-jobs", daemon=True)
        self._lock_file: Any = None

    def start(self) -> None:
        self._thread.start()

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def stop(self, timeout: float = 30.0) -> None:
        """Let the current document finish, then stop; the job is picked up on the next start."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock for the next runner

    def _lead(self) -> bool:
        """Whether this process runs the jobs (it holds, or now takes, the data dir's job lock)."""
        if self._lock_file is None:
            path = Path(self.ws.settings.data_dir) / "jobs.lock"
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+b")  # noqa: SIM115  held open as long as this runner leads
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._lock_file = handle
            for job in self.store.unfinished_jobs():  # left by a stopped server, or queued by another worker
                self._queue.put(job["job_id"])
        return True

    def _next(self) -> str | None:
        """The next job id; between jobs, the leader looks for jobs other workers queued."""
        while True:
            try:
                return self._queue.get(timeout=1.0)
            except queue.Empty:
                if self._stopping.is_set():
                    return None
                if self._lead():
                    for job in self.store.unfinished_jobs():
                        self._queue.put(job["job_id"])

    def _run(self) -> None:
        self._lead()
        while not self._stopping.is_set():
            job_id = self._next()
            if job_id is None:
                return
            if not self._lead():
                continue  # another worker runs the jobs; this one is in the store for it
            job = self.store.get_job(job_id)
            if job is None or job["status"] not in ("queued", "running"):
                continue
            try:
                self._ingest(job)
            except JobCancelled:
                return
            except Exception as exc:  # noqa: BLE001  a job fails alone, with its reason
                self.store.update_job(job_id, status="failed", error=f"{type(exc).__name__}: {exc}")

    def _ingest(self, job: dict[str, Any]) -> None:
        payload = job["payload"]
        paths = [Path(p) for p in payload["paths"]]
        self.store.update_job(job["job_id"], status="running", total=len(paths), done=0)
        done = {"n": 0}

        def progress(n: int, _item: str) -> None:
            done["n"] += n
            self.store.update_job(job["job_id"], done=done["n"])
            if self._stopping.is_set():
                raise JobCancelled()

        access = Access(job["tenant"], tuple(payload.get("groups", ())))
        report = self.ws.ingest(paths, progress=progress, access=access)
        status = "failed" if report.failed and not report.ingested and not report.unchanged else "done"
        self.store.update_job(job["job_id"], status=status, done=len(paths), result=report.to_dict(),
                              error="; ".join(f"{f.path}: {f.error}" for f in report.failed) or None)
