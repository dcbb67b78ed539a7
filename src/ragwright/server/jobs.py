"""Ingestion jobs: uploads are saved first, then ingested by one background thread with
progress in the store. A job a stopped server left queued or running is resumed when it starts
again (re-ingesting skips what was already stored).

Unfinished jobs take turns, one file each (round robin): a small upload waits for at most one
file of a big job, never for the whole of it, and one file's parse is bounded in time and memory
(ingest.parse_timeout_s, ingest.parse_memory_mb). Before, a 31 KB DOCX bomb held every other
upload for 68 s.

With several worker processes, one of them runs the jobs: the one holding an exclusive lock on
`jobs.lock` in the data dir. It finds jobs queued by the others in the store; when it dies the
kernel drops its lock and another worker takes over. When it takes the lock it removes uploaded
files that nothing refers to; after a job with failures, that job's unused files (orphans.py)."""

from __future__ import annotations

import contextlib
import fcntl
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..types import Access, IngestReport
from . import orphans

if TYPE_CHECKING:
    from ..workspace import Workspace


@dataclass(slots=True)
class _Turn:
    """A job in the rotation: its files, how many are done, and the report so far."""

    job_id: str
    paths: list[Path]
    access: Access
    created_at: float
    done: int = 0
    report: IngestReport = field(default_factory=IngestReport)


class JobRunner:
    POLL_S = 1.0  # how often the leader looks for jobs other workers queued

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.store = workspace.store
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ragwright-jobs", daemon=True)
        self._lock_file: BinaryIO | None = None
        self._turns: OrderedDict[str, _Turn] = OrderedDict()
        self._polled = 0.0

    def start(self) -> None:
        self._thread.start()

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def stop(self, timeout: float = 30.0) -> None:
        """Let the current file finish, then stop; unfinished jobs are picked up on the next start."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock for the next runner

    @property
    def uploads(self) -> Path:
        return orphans.uploads_root(self.ws.settings.data_dir)

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
            orphans.sweep(self.uploads, self.store)  # under the lock: one sweeper at a time
            self._poll_store()  # left by a stopped server, or queued by another worker
        return True

    def _run(self) -> None:
        self._lead()
        while not self._stopping.is_set():
            self._admit(wait=not self._turns)
            if self._turns and not self._stopping.is_set():
                job_id = next(iter(self._turns))
                self._turns.move_to_end(job_id)  # its next file after every other job's
                self._step(self._turns[job_id])

    def _admit(self, wait: bool) -> None:
        """Jobs submitted here and, while leading, those in the store; blocks up to POLL_S when idle."""
        ids: list[str | None] = []
        try:
            ids.append(self._queue.get(timeout=self.POLL_S) if wait else self._queue.get_nowait())
            while True:
                ids.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        if not self._lead():
            return  # another worker runs the jobs; these are in the store for it
        for job_id in ids:
            if job_id is not None:
                self._add(self.store.get_job(job_id))
        if time.monotonic() - self._polled >= self.POLL_S:
            self._poll_store()

    def _poll_store(self) -> None:
        self._polled = time.monotonic()
        for job in self.store.unfinished_jobs():
            self._add(job)

    def _add(self, job: dict[str, Any] | None) -> None:
        if job is None or job["status"] not in ("queued", "running") or job["job_id"] in self._turns:
            return
        payload = job["payload"]
        self._turns[job["job_id"]] = _Turn(
            job["job_id"],
            [Path(p) for p in payload["paths"]],
            Access(job["tenant"], tuple(payload.get("groups", ()))),
            float(job["created_at"]),
        )

    def _step(self, turn: _Turn) -> None:
        """Ingest the job's next file; finish the job after its last."""
        try:
            if turn.done == 0:
                self.store.update_job(turn.job_id, status="running", total=len(turn.paths), done=0)
            if turn.done < len(turn.paths):
                _merge(turn.report, self.ws.ingest([turn.paths[turn.done]], access=turn.access))
                turn.done += 1
                self.store.update_job(turn.job_id, done=turn.done)
            if turn.done >= len(turn.paths):
                self._finish(turn)
        except Exception as exc:  # noqa: BLE001  a job fails alone, with its reason
            self._finish(turn, f"{type(exc).__name__}: {exc}")

    def _finish(self, turn: _Turn, error: str | None = None) -> None:
        self._turns.pop(turn.job_id, None)
        report = turn.report
        if error is not None:
            self.store.update_job(turn.job_id, status="failed", error=error)
        else:
            failed_alone = report.failed and not report.ingested and not report.unchanged
            error = "; ".join(f"{f.path}: {f.error}" for f in report.failed) or None
            self.store.update_job(
                turn.job_id,
                status="failed" if failed_alone else "done",
                done=len(turn.paths),
                result=report.to_dict(),
                error=error,
            )
        if error is not None:  # files that became no document would stay forever: no API call names them
            with contextlib.suppress(Exception):  # best effort: the next start sweeps what is left
                orphans.remove_unused(
                    [str(p) for p in turn.paths], self.uploads, self.store, written_before=turn.created_at
                )


def _merge(total: IngestReport, part: IngestReport) -> None:
    """Add one file's report to the job's: counts add up, lists extend."""
    for f in fields(total):
        value = getattr(part, f.name)
        if isinstance(value, list):
            getattr(total, f.name).extend(value)
        else:
            setattr(total, f.name, getattr(total, f.name) + value)
