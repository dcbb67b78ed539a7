"""API keys, scopes and per-key rate limits. A key is shown once; the store keeps its sha256.

Scopes: `read` (search, ask, chat, documents and jobs it can see), `write` (upload and delete),
`admin` (every document of its tenant whatever the groups, the audit log, evaluation runs)."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._sidefile import SideFile
from ..store.contract import KeyStore
from ..types import Access

SCOPES = ("read", "write", "admin")


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    tenant: str
    scopes: tuple[str, ...]
    groups: tuple[str, ...]
    rate_per_min: int | None = None

    @property
    def access(self) -> Access:
        return Access(self.tenant, self.groups, admin="admin" in self.scopes)

    def can(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(
    store: KeyStore,
    tenant: str,
    scopes: Sequence[str],
    groups: Sequence[str] = (),
    name: str = "",
    rate_per_min: int | None = None,
) -> dict[str, Any]:
    """Make a key, store its hash, and return it whole: the only time anyone sees it."""
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)} (got {', '.join(scopes) or 'none'})")
    if not tenant.strip():
        raise ValueError("a key needs a tenant")
    key_id = "k_" + secrets.token_hex(6)
    key = f"rw_{key_id[2:]}_{secrets.token_urlsafe(32)}"
    groups = sorted({g.strip() for g in groups if g.strip()})
    store.add_api_key(key_id, hash_key(key), tenant.strip(), list(scopes), groups, name, rate_per_min)
    return {"id": key_id, "key": key, "tenant": tenant.strip(), "scopes": list(scopes), "groups": groups}


def principal_for(store: KeyStore, key: str) -> Principal | None:
    row = store.api_key_by_hash(hash_key(key))
    if row is None or row["revoked_at"]:
        return None
    return Principal(row["key_id"], row["tenant"], tuple(row["scopes"]), tuple(row["groups"]), row["rate_per_min"])


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    at: float  # when `tokens` was counted


def take_token(bucket: Bucket | None, per_min: int, now: float) -> tuple[Bucket, float | None]:
    """One request against a token bucket of `per_min` tokens, refilled at `per_min` a minute
    (None: a full one): the bucket after it, and None when the request may go, else the seconds
    until one could. The arithmetic of both limiters below, kept in memory or in a shared file."""
    tokens = (
        float(per_min)
        if bucket is None
        else min(float(per_min), bucket.tokens + max(0.0, now - bucket.at) * per_min / 60.0)
    )
    if tokens < 1.0:
        return Bucket(tokens, now), (1.0 - tokens) * 60.0 / per_min
    return Bucket(tokens - 1.0, now), None


class RateLimiter:
    """A token bucket per key: `rate` requests per minute, bursts up to the same number."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def take(self, key_id: str, per_min: int | None) -> float | None:
        """None when allowed; otherwise the seconds until a request would be."""
        if not per_min:
            return None
        now = time.monotonic()
        with self._lock:
            bucket, wait = take_token(self._buckets.get(key_id), per_min, now)
            if len(self._buckets) >= self._max_keys and key_id not in self._buckets:
                self._buckets.clear()  # bounded memory: a full table starts over (everyone gets a fresh bucket)
            self._buckets[key_id] = bucket
            return wait


class SharedRateLimiter:
    """The same token buckets, shared by the worker processes of one server through a small
    SQLite file of their own (derived state: losing it only refills the buckets). Only keys
    with a limit pay for it: one short write transaction per request."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = SideFile(path, "CREATE TABLE IF NOT EXISTS buckets(key_id TEXT PRIMARY KEY, tokens REAL, at REAL)")

    def _conn(self) -> sqlite3.Connection:
        return self._file.conn()

    def take(self, key_id: str, per_min: int | None) -> float | None:
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
