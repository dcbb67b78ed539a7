"""Per-key rate limits as token buckets, kept where every process of one store sees them. The
arithmetic is here once (take_token); the SQLite store keeps its buckets in a small side file
beside its database (`ratelimits.db`: derived state, losing it only refills the buckets), the
PostgreSQL store in a table (store/postgres/ratelimits.py), so that a limit holds across worker
processes and across server replicas alike."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .._sidefile import SideFile


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    at: float  # when `tokens` was counted


def take_token(bucket: Bucket | None, per_min: int, now: float) -> tuple[Bucket, float | None]:
    """One request against a token bucket of `per_min` tokens, refilled at `per_min` a minute
    (None: a full one): the bucket after it, and None when the request may go, else the seconds
    until one could. A clock set back refills nothing."""
    tokens = (
        float(per_min)
        if bucket is None
        else min(float(per_min), bucket.tokens + max(0.0, now - bucket.at) * per_min / 60.0)
    )
    if tokens < 1.0:
        return Bucket(tokens, now), (1.0 - tokens) * 60.0 / per_min
    return Bucket(tokens - 1.0, now), None


class SharedBuckets:
    """Token buckets in a small SQLite file shared by the processes of one machine: one short
    write transaction (BEGIN IMMEDIATE) per request, so two processes never spend one token twice."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = SideFile(path, "CREATE TABLE IF NOT EXISTS buckets(key_id TEXT PRIMARY KEY, tokens REAL, at REAL)")

    def _conn(self) -> sqlite3.Connection:
        return self._file.conn()

    def take(self, key_id: str, per_min: int | None) -> float | None:
        """None when the request may go; else the seconds until one could. No limit: None, unrecorded."""
        if not per_min:
            return None
        conn, now = self._conn(), time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT tokens, at FROM buckets WHERE key_id = ?", (key_id,)).fetchone()
            bucket, wait = take_token(Bucket(*row) if row else None, per_min, now)
            conn.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?)", (key_id, bucket.tokens, bucket.at))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return wait


class SqliteRateLimitsMixin:
    """RateLimitStore for SqliteStore: the buckets live in `ratelimits.db` beside the database
    (as a multi-worker server kept them before they were the store's), not in it: a request's
    token never waits behind a document write."""

    path: Path
    _rate_buckets: SharedBuckets | None = None
    _rate_buckets_lock = threading.Lock()

    def take_rate_token(self, key_id: str, per_min: int) -> float | None:
        if per_min < 1:
            return None
        if self._rate_buckets is None:
            with self._rate_buckets_lock:
                if self._rate_buckets is None:
                    self._rate_buckets = SharedBuckets(Path(self.path).with_name("ratelimits.db"))
        return self._rate_buckets.take(key_id, per_min)
