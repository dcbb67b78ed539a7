"""Ingestion jobs: uploads are saved first, then ingested by a background thread with progress in
the store. A job a stopped server left queued or running is resumed by whichever server claims it
next (re-ingesting skips what was already stored).

Unfinished jobs take turns, one file each (round robin): a small upload waits for at most one
file of a big job, never for the whole of it, and one file's parse is bounded in time and memory
(ingest.parse_timeout_s, ingest.parse_memory_mb). Before, a 31 KB DOCX bomb held every other
upload for 68 s.

Every server process, and every worker of one, runs jobs: each claims unfinished jobs from the
store with a lease (JobStore.claim_job: BEGIN IMMEDIATE on SQLite, FOR UPDATE SKIP LOCKED on
PostgreSQL), so each job is run by exactly one process, up to MAX_HELD at a time in turns. A
heartbeat thread renews the leases every third of LEASE_S; a stopping runner releases its jobs
(the next claim takes them at once), and the jobs of a process killed outright are claimed by
another once their lease ran out (LEASE_S, RAGWRIGHT_JOB_LEASE_S). A runner that finds it lost a
lease (a database outage longer than the lease) drops the job without finishing it.

Uploaded files are read from the data dir's `uploads/`, where the receiving process wrote them:
replicas on one machine share the data dir; replicas on several machines need `uploads/` on
storage they all reach. When a runner starts it removes uploaded files that nothing refers to
(one sweeper at a time per data dir: an exclusive lock on `jobs.lock`); after a job with
failures, that job's unused files (orphans.py)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import queue
import secrets
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreUnavailable
from ..types import Access, IngestReport
from . import orphans

if TYPE_CHECKING:
    from ..workspace import Workspace

LEASE_S = 10.0  # a killed process's jobs are taken over this long (plus one poll) after its last heartbeat


def lease_seconds() -> float:
    """LEASE_S, or RAGWRIGHT_JOB_LEASE_S when set to a positive number."""
    try:
        value = float(os.environ.get("RAGWRIGHT_JOB_LEASE_S", "") or LEASE_S)
    except ValueError:
        return LEASE_S
    return value if value > 0 else LEASE_S


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
    POLL_S = 1.0  # how often an idle or busy runner looks for jobs other processes queued
    MAX_HELD = 8  # jobs one runner takes turns on; the others stay claimable by other processes

    def __init__(self, workspace: Workspace, lease_s: float | None = None) -> None:
        self.ws = workspace
        self.store = workspace.store
        self.lease_s = lease_s or lease_seconds()
        self.worker_id = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ragwright-jobs", daemon=True)
        self._beat_thread = threading.Thread(target=self._beat, name="ragwright-job-leases", daemon=True)
        self._turns: OrderedDict[str, _Turn] = OrderedDict()
        self._held: set[str] = set()  # what the heartbeat renews; _lost: what it found taken
        self._lost: set[str] = set()
        self._held_lock = threading.Lock()
        self._claimed = 0.0

    def start(self) -> None:
        self._thread.start()
        self._beat_thread.start()

    def submit(self, job_id: str) -> None:
        """A job was queued here: claim at once rather than at the next poll (any process may run it)."""
        self._queue.put(job_id)

    def stop(self, timeout: float = 30.0) -> None:
        """Let the current file finish, then release the jobs held: another process, or the next
        start, claims them at once."""
        self._stopping.set()
        self._queue.put(None)
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
        if self._beat_thread.is_alive():
            self._beat_thread.join(timeout=timeout)

    @property
    def uploads(self) -> Path:
        return orphans.uploads_root(self.ws.settings.data_dir)

    def _sweep_uploads(self) -> None:
        """Remove unreferenced uploads, unless another process of this data dir is doing it now."""
        path = Path(self.ws.settings.data_dir) / "jobs.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return
            with contextlib.suppress(Exception):  # best effort: a store error here must not stop the jobs
                orphans.sweep(self.uploads, self.store)

    def _run(self) -> None:
        self._sweep_uploads()
        while not self._stopping.is_set():
            self._admit(wait=not self._turns)
            self._drop_lost()
            if self._turns and not self._stopping.is_set():
                job_id = next(iter(self._turns))
                self._turns.move_to_end(job_id)  # its next file after every other job's
                try:
                    self._step(self._turns[job_id])
                except StoreUnavailable:  # the same file again once the store is back
                    self._stopping.wait(self.POLL_S)
        self._release_all()

    def _admit(self, wait: bool) -> None:
        """Claim jobs when one was submitted here or POLL_S has passed; blocks up to POLL_S when idle."""
        submitted = False
        try:
            submitted = bool(self._queue.get(timeout=self.POLL_S) if wait else self._queue.get_nowait())
            while True:
                submitted = bool(self._queue.get_nowait()) or submitted
        except queue.Empty:
            pass
        if (submitted or time.monotonic() - self._claimed >= self.POLL_S) and not self._stopping.is_set():
            with contextlib.suppress(Exception):  # the store unreachable: try again at the next poll
                self._claim()

    def _claim(self) -> None:
        """Lease unfinished jobs no live process holds, until MAX_HELD are in the rotation."""
        self._claimed = time.monotonic()
        while len(self._turns) < self.MAX_HELD:
            job = self.store.claim_job(self.worker_id, self.lease_s)
            if job is None or job["job_id"] in self._turns:  # ours already (re-claimed after an outage)
                return
            self._add(job)

    def _add(self, job: dict[str, Any]) -> None:
        payload = job["payload"]
        self._turns[job["job_id"]] = _Turn(
            job["job_id"],
            [Path(p) for p in payload["paths"]],
            Access(job["tenant"], tuple(payload.get("groups", ()))),
            float(job["created_at"]),
        )
        with self._held_lock:
            self._held.add(job["job_id"])

    def _forget(self, job_id: str) -> None:
        self._turns.pop(job_id, None)
        with self._held_lock:
            self._held.discard(job_id)
            self._lost.discard(job_id)

    def _beat(self) -> None:
        """Renew every held lease each third of the lease; a renewal refused means another process
        holds the job now (or it is finished): the rotation drops it."""
        while not self._stopping.wait(self.lease_s / 3):
            with self._held_lock:
                held = list(self._held)
            for job_id in held:
                try:
                    kept = self.store.renew_job(job_id, self.worker_id, self.lease_s)
                except Exception:  # noqa: BLE001  the store unreachable: the next beat tries again
                    continue
                if not kept:
                    with self._held_lock:
                        if job_id in self._held:
                            self._lost.add(job_id)

    def _drop_lost(self) -> None:
        with self._held_lock:
            lost, self._lost = self._lost, set()
        for job_id in lost:
            self._forget(job_id)

    def _release_all(self) -> None:
        for job_id in list(self._turns):
            with contextlib.suppress(Exception):  # unreleased, the lease runs out instead
                self.store.release_job(job_id, self.worker_id)
            self._forget(job_id)

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
        except StoreUnavailable:
            raise  # not the job's fault: it goes on when the store is back
        except Exception as exc:  # noqa: BLE001  a job fails alone, with its reason
            self._finish(turn, f"{type(exc).__name__}: {exc}")

    def _finish(self, turn: _Turn, error: str | None = None) -> None:
        held = self.store.renew_job(turn.job_id, self.worker_id, self.lease_s)
        self._forget(turn.job_id)
        if not held:
            return  # taken over meanwhile: the new holder finishes it, once
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
