"""Records the PostgreSQL store keeps beside the documents: evaluation runs, the keyed cache for
model calls (exact and semantic caches), model calls and budget reservations. Mixed into
PostgresStore; the same methods and promises as the SQLite store's (store/records.py).

Budgets across processes: a reservation takes one transaction-scoped advisory lock, so
reservations from every process and thread run one after another (as BEGIN IMMEDIATE makes them
in SQLite), and it reads the money spent and the money reserved in one statement, one snapshot: a
call recorded meanwhile (its reservation released and its cost stored in one commit) is counted
once, never twice nor not at all."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..contract.data import BudgetCheck, Quoted
from ..quoted import sources_of
from ..records import CACHE_PURGE_EVERY_S, RecordsMixin, cases_to_store, forget_in_cases, run_values
from .access import cache_sources_current, link_cache
from .connection import Database
from .traces import stored_versions

Row = tuple[Any, ...]
_BUDGET_LOCK = 0x7267627564  # "rgbud": pg_advisory_xact_lock key held by a reservation
_SCOPES = ("key_id", "tenant", "route", "model", "1")
_RUN_COLUMNS, _RUN_JSON = RecordsMixin._RUN_COLUMNS, RecordsMixin._RUN_JSON  # as SQLite stores them


def forget_in_runs(cur: Any, doc_id: str) -> None:
    """Inside a write that removes a document's text: the evaluation runs whose cases name it keep
    their figures but not the text that may come from it (store/records.py, forget_in_cases)."""
    cur.execute("SELECT run_id, cases FROM eval_runs WHERE strpos(cases, %s) > 0", (json.dumps(doc_id),))
    updates = []
    for run_id, cases in cur.fetchall():
        kept = forget_in_cases(json.loads(cases), doc_id)
        if kept is not None:
            updates.append((json.dumps(kept), run_id))
    if updates:
        cur.executemany("UPDATE eval_runs SET cases = %s WHERE run_id = %s", updates)


class PgRecordsMixin:
    db: Database
    _one: Callable[..., Row | None]
    _all: Callable[..., list[Row]]
    _cache_purge_at = 0.0  # when cache_put next deletes expired entries (time.time())

    # -- evaluation runs -----------------------------------------------------------------------

    def save_eval_run(self, run: dict[str, Any]) -> None:
        """A run belongs to `run["tenant"]` (default: the tenant 'default'). Its "sources" are
        checked in this transaction (store/records.py, cases_to_store; stored_versions holds the
        write generation's row lock to the commit, so no deletion or replacement comes between)
        and not stored."""
        columns = (*_RUN_COLUMNS, "tenant")
        with self.db.write(generation=False) as (cur, _):
            cases = cases_to_store(run, lambda ids: stored_versions(cur, ids))
            values = run_values(run, cases, _RUN_COLUMNS, _RUN_JSON)
            cur.execute(
                f"INSERT INTO eval_runs({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                [*values, run.get("tenant") or "default"],
            )

    def get_eval_run(self, run_id: str, tenant: str | None = None) -> dict[str, Any] | None:
        """The run, or None when there is none (or, given `tenant`, when it is another tenant's)."""
        row = self._one(f"SELECT {', '.join(_RUN_COLUMNS)}, tenant FROM eval_runs WHERE run_id = %s", (run_id,))
        if row is None or (tenant is not None and row[-1] != tenant):
            return None
        run = dict(zip(_RUN_COLUMNS, row[:-1], strict=True))
        return {**{k: json.loads(v) if k in _RUN_JSON else v for k, v in run.items()}, "tenant": row[-1]}

    def list_eval_runs(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every run, oldest first (in the order saved); given `tenant`, only that tenant's."""
        where, params = ("WHERE tenant = %s", (tenant,)) if tenant is not None else ("", ())
        rows = self._all(
            f"SELECT run_id, created_at, kind, dataset, split, pipeline, metrics, tenant FROM eval_runs "
            f"{where} ORDER BY seq",
            params,
        )
        keys = ("run_id", "created_at", "kind", "dataset", "split", "pipeline", "metrics", "tenant")
        return [{**dict(zip(keys, r, strict=True)), "metrics": json.loads(r[6])} for r in rows]

    # -- cache -----------------------------------------------------------------------------------

    def cache_get(self, namespace: str, key: str) -> str | None:
        row = self._one(
            "SELECT value, expires_at FROM cache_entries WHERE namespace = %s AND key = %s", (namespace, key)
        )
        if row is None or (row[1] is not None and row[1] <= time.time()):
            return None
        return str(row[0])

    def cache_put(self, namespace: str, key: str, value: str, ttl_s: float | None = None, sources: Quoted = ()) -> None:
        """Keep `value` for `ttl_s` seconds (None: for good); expired entries of every namespace,
        and their links to documents, are deleted on the way (see CACHE_PURGE_EVERY_S).
        `sources`: the documents the value was made from (doc_id -> version read), checked, and
        the entry linked to them, in the same transaction (store/quoted.py)."""
        now, made_from = time.time(), sources_of(sources)
        with self.db.write(generation=False) as (cur, _):
            if not cache_sources_current(cur, namespace, key, made_from):
                return
            link_cache(cur, namespace, key, made_from)
            cur.execute(
                "INSERT INTO cache_entries(namespace, key, value, created_at, expires_at) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, created_at = excluded.created_at, "
                "expires_at = excluded.expires_at",
                (namespace, key, value, now, now + ttl_s if ttl_s is not None else None),
            )
            if now >= self._cache_purge_at:
                cur.execute(
                    "WITH gone AS (DELETE FROM cache_entries WHERE expires_at <= %s RETURNING namespace, key) "
                    "DELETE FROM cache_sources s USING gone WHERE s.namespace = gone.namespace AND s.key = gone.key",
                    (now,),
                )
                self._cache_purge_at = now + min(CACHE_PURGE_EVERY_S, ttl_s or CACHE_PURGE_EVERY_S)

    def cache_scan(self, namespace: str, limit: int = 1000) -> list[tuple[str, str]]:
        """The newest live entries of a namespace: (key, value)."""
        return [
            (k, v)
            for k, v in self._all(
                "SELECT key, value FROM cache_entries WHERE namespace = %s AND (expires_at IS NULL OR expires_at > %s) "
                "ORDER BY created_at DESC LIMIT %s",
                (namespace, time.time(), limit),
            )
        ]

    # -- model calls and budgets -----------------------------------------------------------------

    def reserve_budget(
        self,
        reservation_id: str,
        checks: Sequence[BudgetCheck],
        amount_usd: float,
        hold_s: float = 600.0,
    ) -> tuple[str, float, float] | None:
        """Reserve `amount_usd` against each (budget, scope column, subject, since, limit), all or
        none, in one transaction under the budget lock. Returns None, or the first (budget, used,
        limit) it would pass."""
        now = time.time()
        with self.db.write(generation=False) as (cur, _):
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_BUDGET_LOCK,))
            for budget, column, subject, since, limit, counted in (BudgetCheck(*c) for c in checks):
                where, params = _scope(column, subject, counted)
                cur.execute(
                    f"SELECT (SELECT COALESCE(SUM(cost_usd), 0) FROM model_calls WHERE {where} AND started_at >= %s) "
                    "+ (SELECT COALESCE(SUM(amount_usd), 0) FROM budget_reservations WHERE budget = %s "
                    "AND subject IS NOT DISTINCT FROM %s AND expires_at > %s)",
                    (*params, since, budget, subject, now),
                )
                used = float(cur.fetchone()[0])
                if used + amount_usd > limit + 1e-12:
                    cur.execute("DELETE FROM budget_reservations WHERE reservation_id = %s", (reservation_id,))
                    return budget, used, limit
                cur.execute(
                    "INSERT INTO budget_reservations VALUES (%s, %s, %s, %s, %s)",
                    (reservation_id, budget, subject, amount_usd, now + hold_s),
                )
        return None

    def spent_usd(self, column: str, subject: str | None, since: float = 0.0) -> float:
        where, params = _scope(column, subject)
        row = self._one(
            f"SELECT COALESCE(SUM(cost_usd), 0) FROM model_calls WHERE {where} AND started_at >= %s", (*params, since)
        )
        return float(row[0]) if row else 0.0

    def record_call(self, record: dict[str, Any], reservation_id: str | None = None) -> None:
        """Store a call and release its reservation in the same transaction: the money is never
        counted twice or not at all."""
        usage = record["usage"]
        with self.db.write(generation=False) as (cur, _):
            if reservation_id:
                cur.execute("DELETE FROM budget_reservations WHERE reservation_id = %s", (reservation_id,))
            named = [record[k] for k in ("call_id", "started_at", "route", "model")]
            tokens = [usage["input_tokens"], usage["output_tokens"]]
            cost = [record["cost_usd"], int(record["cached"]), record["latency_ms"], record.get("error")]
            cur.execute(
                "INSERT INTO model_calls VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (*named, record.get("key_id"), record.get("tenant"), *tokens, *cost, json.dumps(record)),
            )

    def release_budget(self, reservation_id: str) -> None:
        with self.db.write(generation=False) as (cur, _):
            cur.execute("DELETE FROM budget_reservations WHERE reservation_id = %s", (reservation_id,))

    def usage_summary(self, by: str = "route", since: float = 0.0) -> list[dict[str, Any]]:
        """Grouped and ordered as SQLite does: byte order, the unnamed (NULL) group first."""
        assert by in ("key_id", "tenant", "route", "model")
        rows = self._all(
            f"SELECT {by}, COUNT(*), SUM(input_tokens)::bigint, SUM(output_tokens)::bigint, SUM(cost_usd), "
            f"SUM(cached)::bigint, COUNT(error) FROM model_calls WHERE started_at >= %s GROUP BY {by} "
            f'ORDER BY {by} COLLATE "C" NULLS FIRST',
            (since,),
        )
        keys = (by, "calls", "input_tokens", "output_tokens", "cost_usd", "cached", "errors")
        return [dict(zip(keys, r, strict=True)) for r in rows]


def _scope(column: str, subject: str | None, counted: Sequence[str] = ()) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause over model_calls for a budget's scope; the column name is checked."""
    if column not in _SCOPES:
        raise ValueError(f"unknown budget scope column {column!r}")
    if column == "1":
        return "TRUE", ()
    if counted:
        return f"{column} = ANY(%s)", (list(counted),)
    return f"{column} IS NOT DISTINCT FROM %s", (subject,)
