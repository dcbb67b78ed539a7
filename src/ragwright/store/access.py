"""Records a server keeps: API keys (only their hashes), the audit log, ingestion jobs, and
which cache entries were made from which documents. Mixed into SqliteStore."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from .contract.data import AuditEntry as AuditEntry  # re-exported: store/postgres/access.py imports it from here
from .contract.data import Quoted, clip_audit_text
from .quoted import cache_sources_current, link_cache, sources_of
from .sql import Row

AUDIT_COLUMNS = (
    *("at", "key_id", "tenant", "method", "endpoint", "status", "doc_ids", "latency_ms"),
    *("route", "client", "count"),  # schema 11
)


def audit_row(e: AuditEntry) -> tuple[Any, ...]:
    """An entry as stored (both backends): 8 fields or 11, every text a caller chose clipped."""
    route, client, count = (e[8], e[9], e[10]) if len(e) > 8 else ("", None, 1)
    return (
        *e[:3],
        clip_audit_text(e[3], 16),
        clip_audit_text(e[4]),
        e[5],
        json.dumps(list(e[6])),
        e[7],
        clip_audit_text(route),
        None if client is None else clip_audit_text(client, 64),
        count,
    )


def audit_dict(row: Row) -> dict[str, Any]:
    return {**dict(zip(AUDIT_COLUMNS, row, strict=True)), "doc_ids": json.loads(row[6])}


class AccessMixin:
    _lock: threading.RLock
    _conn: sqlite3.Connection
    _transaction: Callable[..., AbstractContextManager[None]]
    _kept_read: Callable[..., Any]
    _one: Callable[..., Row | None]
    _all: Callable[..., list[Row]]

    # -- API keys --------------------------------------------------------------------------------

    _KEY_COLUMNS = ("key_id", "tenant", "scopes", "groups", "name", "rate_per_min", "created_at", "revoked_at")

    def add_api_key(
        self,
        key_id: str,
        key_hash: str,
        tenant: str,
        scopes: Sequence[str],
        groups: Sequence[str],
        name: str = "",
        rate_per_min: int | None = None,
    ) -> None:
        with self._lock, self._transaction():
            self._conn.execute(
                "INSERT INTO api_keys(key_id, key_hash, tenant, scopes, groups, name, rate_per_min) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key_id,
                    key_hash,
                    tenant,
                    json.dumps(list(scopes)),
                    json.dumps(sorted(set(groups))),
                    name,
                    rate_per_min,
                ),
            )

    def api_key_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        """Kept until the next write (store/stamp.py): a revocation from any process is seen by the
        next request, and a server no longer pays an SQLite read per request for it."""

        def read() -> dict[str, Any] | None:
            row = self._one(f"SELECT {', '.join(self._KEY_COLUMNS)} FROM api_keys WHERE key_hash = ?", (key_hash,))
            return self._key(row) if row else None

        found: dict[str, Any] | None = self._kept_read("key:" + key_hash, read, keep_none=False)
        return found

    def list_api_keys(self) -> list[dict[str, Any]]:
        return [
            self._key(r) for r in self._all(f"SELECT {', '.join(self._KEY_COLUMNS)} FROM api_keys ORDER BY created_at")
        ]

    def revoke_api_key(self, key_id: str) -> bool:
        with self._lock, self._transaction():
            return (
                self._conn.execute(
                    "UPDATE api_keys SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
                    "WHERE key_id = ? AND revoked_at IS NULL",
                    (key_id,),
                ).rowcount
                > 0
            )

    def _key(self, row: Row) -> dict[str, Any]:
        data = dict(zip(self._KEY_COLUMNS, row, strict=True))
        data["scopes"], data["groups"] = json.loads(data["scopes"]), json.loads(data["groups"])
        return data

    # -- audit -----------------------------------------------------------------------------------

    def write_audit(self, entries: Sequence[AuditEntry]) -> None:
        """(at, key_id, tenant, method, endpoint, status, doc_ids, latency_ms[, route, client,
        count]) rows, in one transaction, their client-chosen texts clipped."""
        if not entries:
            return
        with self._lock, self._transaction(stamp=False):
            self._conn.executemany(
                f"INSERT INTO audit_log({', '.join(AUDIT_COLUMNS)}) VALUES ({', '.join('?' * len(AUDIT_COLUMNS))})",
                [audit_row(e) for e in entries],
            )

    def list_audit(self, limit: int = 100, tenant: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE tenant = ?", (tenant,)) if tenant else ("", ())
        rows = self._all(
            f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log {where} ORDER BY id DESC LIMIT ?", (*params, limit)
        )
        return [audit_dict(r) for r in rows]

    def delete_audit_before(self, at: float, without_key: bool = False) -> int:
        only = " AND key_id IS NULL" if without_key else ""
        with self._lock, self._transaction(stamp=False):
            return int(self._conn.execute(f"DELETE FROM audit_log WHERE at < ?{only}", (at,)).rowcount)

    # -- jobs ------------------------------------------------------------------------------------

    _JOB_COLUMNS = (
        "job_id",
        "kind",
        "status",
        "tenant",
        "key_id",
        "payload",
        "total",
        "done",
        "result",
        "error",
        "created_at",
        "updated_at",
    )

    def add_job(self, job_id: str, kind: str, tenant: str, key_id: str | None, payload: dict[str, Any]) -> None:
        now = time.time()
        with self._lock, self._transaction(stamp=False):
            self._conn.execute(
                "INSERT INTO jobs(job_id, kind, status, tenant, key_id, payload, created_at, "
                "updated_at) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
                (job_id, kind, tenant, key_id, json.dumps(payload), now, now),
            )

    def update_job(self, job_id: str, **fields: Any) -> None:
        allowed = {"status", "total", "done", "result", "error"}
        assert set(fields) <= allowed, set(fields) - allowed
        values = [json.dumps(v) if k == "result" else v for k, v in fields.items()]
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._lock, self._transaction(stamp=False):
            self._conn.execute(
                f"UPDATE jobs SET {sets}, updated_at = ? WHERE job_id = ?", (*values, time.time(), job_id)
            )

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        row = self._one(f"SELECT {', '.join(self._JOB_COLUMNS)} FROM jobs WHERE job_id = ?", (job_id,))
        return self._job(row) if row else None

    def unfinished_jobs(self) -> list[dict[str, Any]]:
        """Jobs a stopped server left queued or running: they are resumed on the next start."""
        rows = self._all(
            f"SELECT {', '.join(self._JOB_COLUMNS)} FROM jobs WHERE status IN ('queued', 'running') ORDER BY created_at"
        )
        return [self._job(r) for r in rows]

    def _job(self, row: Row) -> dict[str, Any]:
        data = dict(zip(self._JOB_COLUMNS, row, strict=True))
        data["payload"] = json.loads(data["payload"])
        data["result"] = json.loads(data["result"]) if data["result"] else None
        return data

    # -- cache provenance --------------------------------------------------------------------------

    def cache_link(self, namespace: str, key: str, doc_ids: Quoted) -> None:
        """Remember that a cache entry was made from these documents (or doc_id -> version read):
        deleting or replacing one deletes it. One deleted or replaced before this (while the reply
        was made) already was: the entry goes now. cache_put(..., sources=) does both at once."""
        sources = sources_of(doc_ids)
        if not sources:
            return
        with self._lock, self._transaction(stamp=False):
            if cache_sources_current(self._conn, namespace, key, sources):
                link_cache(self._conn, namespace, key, sources)
