"""Leases on ingestion jobs in the SQLite store, so that several processes share one queue: each
job is run by exactly one of them, and a job whose process died is taken over. Mixed into
SqliteStore; the PostgreSQL store has the same three methods (store/postgres/access.py).

A claim is one write transaction (BEGIN IMMEDIATE: one writer at a time across every process on
the file), so two claimers never take the same job. The holder renews its lease while it works
(the heartbeat); a holder killed outright (SIGKILL) stops renewing, and once its lease has run out
the next claim takes the job."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

_UNFINISHED = "status IN ('queued', 'running')"


class JobLeasesMixin:
    _lock: threading.RLock
    _conn: sqlite3.Connection
    _transaction: Callable[..., AbstractContextManager[None]]
    get_job: Callable[[str], dict[str, Any] | None]

    def claim_job(self, worker_id: str, lease_s: float = 30.0) -> dict[str, Any] | None:
        """The oldest unfinished job no live lease holds, now leased to `worker_id` for `lease_s`
        seconds (its status unchanged), or None when there is none."""
        now = time.time()
        with self._lock, self._transaction(stamp=False):
            row = self._conn.execute(
                f"SELECT job_id FROM jobs WHERE {_UNFINISHED} "
                "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY created_at, job_id LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return None
            self._conn.execute(
                "UPDATE jobs SET owner = ?, lease_until = ? WHERE job_id = ?", (worker_id, now + lease_s, row[0])
            )
        return self.get_job(row[0])  # committed: read as any reader would

    def renew_job(self, job_id: str, worker_id: str, lease_s: float = 30.0) -> bool:
        """Extend the lease (the heartbeat); False when `worker_id` no longer holds the job (its
        lease ran out and another claimed it, or the job is finished): the worker should stop."""
        with self._lock, self._transaction(stamp=False):
            cur = self._conn.execute(
                f"UPDATE jobs SET lease_until = ? WHERE job_id = ? AND owner = ? AND {_UNFINISHED}",
                (time.time() + lease_s, job_id, worker_id),
            )
            return cur.rowcount > 0

    def release_job(self, job_id: str, worker_id: str) -> None:
        """Give the job up (a worker stopping before it is done): the next claim may take it at once."""
        with self._lock, self._transaction(stamp=False):
            self._conn.execute(
                "UPDATE jobs SET owner = NULL, lease_until = NULL WHERE job_id = ? AND owner = ?", (job_id, worker_id)
            )
