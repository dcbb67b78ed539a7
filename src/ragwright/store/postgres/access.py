"""Records a server keeps, in PostgreSQL: API keys (only their hashes), the audit log, ingestion
jobs, and which cache entries were made from which documents. Mixed into PostgresStore; the same
methods and promises as the SQLite store's (store/access.py).

Nothing here is kept in the process: a key revoked through one server is refused by every other
at its next request. Jobs are shared by every process on the database through leases:
`claim_job` hands the oldest unfinished job that no live process holds to one claimer (SELECT ...
FOR UPDATE SKIP LOCKED: concurrent claimers never get the same job), and the holder renews its
lease while it works; a holder killed outright stops renewing, and its job is claimed again once
the lease has run out."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..access import AUDIT_COLUMNS, AccessMixin, AuditEntry, audit_dict, audit_row
from ..contract.data import Quoted
from ..quoted import Sources, current, sources_of
from .connection import Database
from .traces import stored_versions

Row = tuple[Any, ...]
_NOW_TEXT = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
_KEY_COLUMNS, _JOB_COLUMNS = AccessMixin._KEY_COLUMNS, AccessMixin._JOB_COLUMNS  # as SQLite returns them
_UNFINISHED = "status IN ('queued', 'running')"


class PgAccessMixin:
    db: Database
    _one: Callable[..., Row | None]
    _all: Callable[..., list[Row]]

    # -- API keys --------------------------------------------------------------------------------

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
        with self.db.write(generation=False) as (cur, _):
            cur.execute(
                "INSERT INTO api_keys(key_id, key_hash, tenant, scopes, groups, name, rate_per_min) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
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
        """Read from the database every time (an indexed lookup): a revocation committed by any
        process is seen by the next request."""
        row = self._one(f"SELECT {', '.join(_KEY_COLUMNS)} FROM api_keys WHERE key_hash = %s", (key_hash,))
        return _key(row) if row else None

    def list_api_keys(self) -> list[dict[str, Any]]:
        return [_key(r) for r in self._all(f"SELECT {', '.join(_KEY_COLUMNS)} FROM api_keys ORDER BY created_at")]

    def revoke_api_key(self, key_id: str) -> bool:
        with self.db.write(generation=False) as (cur, _):
            cur.execute(
                f"UPDATE api_keys SET revoked_at = {_NOW_TEXT} WHERE key_id = %s AND revoked_at IS NULL", (key_id,)
            )
            return bool(cur.rowcount > 0)

    # -- audit -----------------------------------------------------------------------------------

    def write_audit(self, entries: Sequence[AuditEntry]) -> None:
        """(at, key_id, tenant, method, endpoint, status, doc_ids, latency_ms[, route, client,
        count]) rows, in one transaction, their client-chosen texts clipped (as SQLite's)."""
        if not entries:
            return
        with self.db.write(generation=False) as (cur, _):
            cur.executemany(
                f"INSERT INTO audit_log({', '.join(AUDIT_COLUMNS)}) VALUES ({', '.join(['%s'] * len(AUDIT_COLUMNS))})",
                [audit_row(e) for e in entries],
            )

    def list_audit(self, limit: int = 100, tenant: str | None = None) -> list[dict[str, Any]]:
        """The newest first."""
        where, params = ("WHERE tenant = %s", (tenant,)) if tenant else ("", ())
        rows = self._all(
            f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_log {where} ORDER BY id DESC LIMIT %s", (*params, limit)
        )
        return [audit_dict(r) for r in rows]

    def delete_audit_before(self, at: float, without_key: bool = False) -> int:
        only = " AND key_id IS NULL" if without_key else ""
        with self.db.write(generation=False) as (cur, _):
            cur.execute(f"DELETE FROM audit_log WHERE at < %s{only}", (at,))
            return int(cur.rowcount)

    # -- jobs ------------------------------------------------------------------------------------

    def add_job(self, job_id: str, kind: str, tenant: str, key_id: str | None, payload: dict[str, Any]) -> None:
        now = time.time()
        with self.db.write(generation=False) as (cur, _):
            cur.execute(
                "INSERT INTO jobs(job_id, kind, status, tenant, key_id, payload, created_at, updated_at) "
                "VALUES (%s, %s, 'queued', %s, %s, %s, %s, %s)",
                (job_id, kind, tenant, key_id, json.dumps(payload), now, now),
            )

    def update_job(self, job_id: str, **fields: Any) -> None:
        allowed = {"status", "total", "done", "result", "error"}
        assert set(fields) <= allowed, set(fields) - allowed
        values = [json.dumps(v) if k == "result" else v for k, v in fields.items()]
        sets = ", ".join(f"{k} = %s" for k in fields)
        with self.db.write(generation=False) as (cur, _):
            cur.execute(f"UPDATE jobs SET {sets}, updated_at = %s WHERE job_id = %s", (*values, time.time(), job_id))

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        row = self._one(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE job_id = %s", (job_id,))
        return _job(row) if row else None

    def unfinished_jobs(self) -> list[dict[str, Any]]:
        """Jobs queued or running (leased or not), oldest first."""
        rows = self._all(f"SELECT {', '.join(_JOB_COLUMNS)} FROM jobs WHERE {_UNFINISHED} ORDER BY created_at, job_id")
        return [_job(r) for r in rows]

    def claim_job(self, worker_id: str, lease_s: float = 30.0) -> dict[str, Any] | None:
        """The oldest unfinished job no live lease holds, now leased to `worker_id` for `lease_s`
        seconds, or None. Concurrent claimers skip the row another is claiming (SKIP LOCKED), and a
        row claimed meanwhile fails the lease test when re-checked: one job, one claimer."""
        now = time.time()
        with self.db.write(generation=False) as (cur, _):
            cur.execute(
                f"UPDATE jobs SET owner = %s, lease_until = %s WHERE job_id = (SELECT job_id FROM jobs "
                f"WHERE {_UNFINISHED} AND (lease_until IS NULL OR lease_until <= %s) "
                "ORDER BY created_at, job_id LIMIT 1 FOR UPDATE SKIP LOCKED) "
                f"RETURNING {', '.join(_JOB_COLUMNS)}",
                (worker_id, now + lease_s, now),
            )
            row = cur.fetchone()
        return _job(row) if row else None

    def renew_job(self, job_id: str, worker_id: str, lease_s: float = 30.0) -> bool:
        """Extend the lease (the heartbeat); False when `worker_id` no longer holds the job (its
        lease ran out and another claimed it, or the job is finished): the worker should stop."""
        with self.db.write(generation=False) as (cur, _):
            cur.execute(
                f"UPDATE jobs SET lease_until = %s WHERE job_id = %s AND owner = %s AND {_UNFINISHED}",
                (time.time() + lease_s, job_id, worker_id),
            )
            return bool(cur.rowcount > 0)

    def release_job(self, job_id: str, worker_id: str) -> None:
        """Give the job up (a worker stopping before it is done): the next claim may take it at once."""
        with self.db.write(generation=False) as (cur, _):
            cur.execute(
                "UPDATE jobs SET owner = NULL, lease_until = NULL WHERE job_id = %s AND owner = %s", (job_id, worker_id)
            )

    # -- cache provenance --------------------------------------------------------------------------

    def cache_link(self, namespace: str, key: str, doc_ids: Quoted) -> None:
        """Remember that a cache entry was made from these documents (or doc_id -> version read):
        deleting or replacing one deletes it. One deleted or replaced before this (while the reply
        was made) already was: the entry goes now. cache_put(..., sources=) does both at once."""
        sources = sources_of(doc_ids)
        if not sources:
            return
        with self.db.write(generation=False) as (cur, _):
            if cache_sources_current(cur, namespace, key, sources):
                link_cache(cur, namespace, key, sources)


def cache_sources_current(cur: Any, namespace: str, key: str, sources: Sources) -> bool:
    """Inside a write transaction, before a cache entry made from `sources` is written or linked:
    True when they are all current (or none is named); otherwise False, and what the key holds,
    with its links, is deleted. stored_versions holds the write generation's row lock to the
    commit: no deletion or replacement, whose cleanup would miss the entry, comes between."""
    if not sources or current(sources, stored_versions(cur, list(sources))):
        return True
    for table in ("cache_sources", "cache_entries"):
        cur.execute(f"DELETE FROM {table} WHERE namespace = %s AND key = %s", (namespace, key))
    return False


def link_cache(cur: Any, namespace: str, key: str, sources: Sources) -> None:
    """Inside the same transaction: the entry goes when any of its documents is deleted or replaced."""
    cur.executemany(
        "INSERT INTO cache_sources(namespace, key, doc_id) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        [(namespace, key, d) for d in sources],
    )


def unlink_caches(cur: Any, doc_id: str) -> None:
    """Inside a document's deletion: the cache entries made from it, and their links, go."""
    cur.execute(
        "WITH gone AS (DELETE FROM cache_sources WHERE doc_id = %s RETURNING namespace, key) "
        "DELETE FROM cache_entries e USING gone WHERE e.namespace = gone.namespace AND e.key = gone.key",
        (doc_id,),
    )


def _key(row: Row) -> dict[str, Any]:
    data = dict(zip(_KEY_COLUMNS, row, strict=True))
    data["scopes"], data["groups"] = json.loads(data["scopes"]), json.loads(data["groups"])
    return data


def _job(row: Row) -> dict[str, Any]:
    data = dict(zip(_JOB_COLUMNS, row, strict=True))
    data["payload"] = json.loads(data["payload"])
    data["result"] = json.loads(data["result"]) if data["result"] else None
    return data
