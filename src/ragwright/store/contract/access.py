"""What a server keeps beside the documents: API keys (only their hashes), the audit log,
ingestion jobs and per-key rate limits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from .data import AuditEntry


@runtime_checkable
class KeyStore(Protocol):
    """API keys by hash: the key itself is never stored."""

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
        """Store a key, committed before this returns (any process's next lookup finds it). A
        key_id or hash already stored is an error and nothing is written."""

    def api_key_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        """The key with this hash: key_id, tenant, scopes, groups, name, rate_per_min, created_at,
        revoked_at (a revoked key is returned with revoked_at set: refusing it is the caller's
        job), or None. A backend may keep what it read until some process writes, but a
        revocation committed by any process is seen by the next lookup (SQLite: the write stamp)
        or within 1 s (a store shared by several machines)."""

    def list_api_keys(self) -> list[dict[str, Any]]:
        """Every key, revoked ones included, oldest first (same fields as api_key_by_hash)."""

    def revoke_api_key(self, key_id: str) -> bool:
        """Set revoked_at now, committed before this returns; True when this call revoked it, False
        when the key is unknown or was revoked already."""


@runtime_checkable
class AuditStore(Protocol):
    """One row per request with a valid key, and per minute, address, route and status for the
    others, written in batches by server/audit.py's writer thread."""

    def write_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append the entries in one transaction (all or none), in the order given; an empty
        sequence is a no-op. An entry of 8 fields has route '', client None and count 1. Method,
        endpoint, route and client are stored clipped (contract/data.clip_audit_text): what a
        row takes is bounded whatever the caller sent."""

    def list_audit(self, limit: int = 100, tenant: str | None = None) -> list[dict[str, Any]]:
        """The newest entries first (by order of writing), at most `limit`, only the tenant's when
        given: at, key_id, tenant, method, endpoint, status, doc_ids, latency_ms, route, client,
        count."""

    def delete_audit_before(self, at: float, without_key: bool = False) -> int:
        """Delete the entries whose `at` is older than `at` (a Unix time), only those of requests
        without a valid key (`key_id` NULL) when `without_key`, committed before this returns; the
        number deleted. The audit retention ([observe] audit_retention_days, and 30 days for
        requests without a key: server/audit.py)."""


@runtime_checkable
class JobStore(Protocol):
    """Ingestion jobs: queued, running, then done or failed. A job left queued or running by a
    stopped server is resumed by the next one (server/jobs.py)."""

    def add_job(self, job_id: str, kind: str, tenant: str, key_id: str | None, payload: dict[str, Any]) -> None:
        """Store a job as 'queued' (created_at = updated_at = now), committed before this returns.
        A job_id already stored is an error and nothing is written."""

    def update_job(self, job_id: str, **fields: Any) -> None:
        """Set some of status, total, done, result (any JSON value) and error, and updated_at = now,
        in one transaction; other field names are a programming error. An unknown job_id
        changes nothing."""

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        """job_id, kind, status, tenant, key_id, payload, total, done, result, error, created_at,
        updated_at; or None."""

    def unfinished_jobs(self) -> list[dict[str, Any]]:
        """Jobs whose status is 'queued' or 'running', oldest first (same fields as get_job)."""

    def claim_job(self, worker_id: str, lease_s: float = 30.0) -> dict[str, Any] | None:
        """The oldest unfinished job that no live lease holds, now leased to `worker_id` for
        `lease_s` seconds (its status unchanged), or None. Two claimers, in any processes on any
        machines, never get the same job (SQLite: one write transaction at a time; PostgreSQL:
        FOR UPDATE SKIP LOCKED, so concurrent claimers take different jobs without waiting); a
        job whose holder stopped renewing (killed) is claimable once its lease ran out."""

    def renew_job(self, job_id: str, worker_id: str, lease_s: float = 30.0) -> bool:
        """Extend `worker_id`'s lease to now + `lease_s` (the heartbeat), committed before this
        returns; False when it no longer holds the job (the lease ran out and another claimed it,
        or the job is finished): the worker should stop."""

    def release_job(self, job_id: str, worker_id: str) -> None:
        """Give the job up (a worker stopping before it is done), committed before this returns:
        the next claim may take it at once. Does nothing when `worker_id` does not hold it."""


@runtime_checkable
class RateLimitStore(Protocol):
    """Per-key token buckets shared by every process that uses the store: a limit holds across a
    server's workers and across replicas on one database."""

    def take_rate_token(self, key_id: str, per_min: int) -> float | None:
        """One request against `key_id`'s bucket of `per_min` tokens (bursts up to `per_min`,
        refilled at `per_min` a minute): None when it may go (a token taken), else the seconds
        until one could (nothing taken). Atomic across processes: two requests never spend one
        token. The buckets are derived state: a backend may lose them (they refill), never share
        one token between two requests. `per_min` < 1 means no limit (None, nothing recorded)."""
