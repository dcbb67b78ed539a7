"""Records kept beside the documents: evaluation runs, and a keyed cache for model calls.

Mixed into SqliteStore; both use its connection, lock and transactions, so a record is written
whole or not at all."""

from __future__ import annotations

import copy
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from .contract.data import BudgetCheck, Quoted
from .quoted import cache_sources_current, current, link_cache, sources_of, stored_versions
from .sql import Row

# Expired cache entries are deleted by cache_put, at most this often (or once per TTL when that is
# shorter): the DELETE reads the whole table (no index on expires_at): 100-200 ms over 100,000
# entries, where a put takes 0.09 ms. The table then holds at most the entries put in one TTL plus
# one such interval.
CACHE_PURGE_EVERY_S = 60.0


REDACTED = "removed: the answer cited, or was asked about, a document since deleted or replaced"


def forget_in_cases(cases: dict[str, Any], doc_id: str) -> dict[str, Any] | None:
    """An evaluation run's cases without what a removed document may have put in them, or None
    when none names it. A run is a record of what was measured: its figures (metrics, per_query,
    coverage) and the ids it measured stay, as feedback keeps the user's query. The text goes: an
    answer that cites the document, or whose question the qrels tie to it (its content is what the
    answer was about, cited or not), is blanked with its unmeasured reasons cut to their kind (a
    judge's reply may quote it); a retrieved entry of the document loses its title."""
    changed = False
    for case in cases.values():
        if not isinstance(case, dict):
            continue
        for hit in case.get("retrieved") or []:
            if isinstance(hit, dict) and hit.get("doc_id") == doc_id and hit.get("title"):
                hit["title"], changed = "", True
        if "answer" in case and (doc_id in (case.get("cited") or []) or doc_id in (case.get("relevant") or {})):
            redacted = {
                **case,
                "answer": "",
                "redacted": REDACTED,
                "unmeasured": {m: str(r).split(":")[0] for m, r in (case.get("unmeasured") or {}).items()},
            }
            if redacted != case:
                case.update(redacted)
                changed = True
    return cases if changed else None


def cases_to_store(run: Mapping[str, Any], stored: Callable[[list[str]], Mapping[str, str]]) -> Any:
    """A run's cases as save_eval_run writes them, called inside its transaction with `stored`
    (doc_id -> version of those stored, read there: store/quoted.py). A run made from this store's
    documents names them in run["sources"] (doc_id -> the version it read, or plain ids: held to
    being stored only), and is checked as a trace or cached reply is: what its cases hold of one
    that is no longer stored, or no longer at the version read, is taken out as that document's
    deletion would (forget_in_cases). The deletion came first and cleared the runs stored then;
    this one came after it. The run and its figures are kept (a case redacted, not dropped: the
    run is a record of what was measured), on a copy: the caller's run is left as given. A run
    naming no sources (a BEIR corpus's: its ids are its own corpus's, not this store's) is
    stored as given."""
    cases = run.get("cases", {})
    sources = sources_of(run.get("sources") or ())
    if not sources:
        return cases
    held = stored(list(sources))
    gone = [d for d, version in sources.items() if not current({d: version}, held)]
    if not gone:
        return cases
    cases = copy.deepcopy(cases)
    for doc_id in gone:
        forget_in_cases(cases, doc_id)
    return cases


def run_values(run: Mapping[str, Any], cases: Any, columns: Sequence[str], json_columns: Sequence[str]) -> list[Any]:
    """The values of a run's columns, its JSON ones as JSON text, with `cases` as checked."""
    return [json.dumps(cases if c == "cases" else run.get(c, {})) if c in json_columns else run[c] for c in columns]


class RecordsMixin:
    _lock: threading.RLock
    _conn: sqlite3.Connection
    _transaction: Callable[..., AbstractContextManager[None]]
    _one: Callable[..., Row | None]
    _all: Callable[..., list[Row]]
    _cache_purge_at = 0.0  # when cache_put next deletes expired entries (time.time())

    # -- evaluation runs -----------------------------------------------------------------------

    _RUN_COLUMNS = (
        "run_id",
        "created_at",
        "kind",
        "dataset",
        "split",
        "pipeline",
        "dataset_hash",
        "code_version",
        "config",
        "metrics",
        "per_query",
        "seconds",
        "coverage",
        "cases",
    )
    _RUN_JSON = ("config", "metrics", "per_query", "coverage", "cases")

    def save_eval_run(self, run: dict[str, Any]) -> None:
        """A run belongs to `run["tenant"]` (default: the tenant 'default', whose documents the CLI
        ingests): an admin key over HTTP sees only its tenant's runs. Its "sources" are checked in
        this transaction (cases_to_store; one writer at a time: no deletion lands before the
        commit) and not stored."""
        columns = (*self._RUN_COLUMNS, "tenant")
        with self._lock, self._transaction(stamp=False):
            cases = cases_to_store(run, lambda ids: stored_versions(self._conn, ids))
            values = run_values(run, cases, self._RUN_COLUMNS, self._RUN_JSON)
            self._conn.execute(
                f"INSERT INTO eval_runs({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                [*values, run.get("tenant") or "default"],
            )

    def _forget_in_runs(self, doc_id: str) -> None:
        """Inside a write that removes a document's text: the evaluation runs whose cases name it
        keep their figures but not the text that may come from it (see forget_in_cases)."""
        rows = self._conn.execute(
            "SELECT run_id, cases FROM eval_runs WHERE instr(cases, ?) > 0", (json.dumps(doc_id),)
        ).fetchall()
        for run_id, cases in rows:
            kept = forget_in_cases(json.loads(cases), doc_id)
            if kept is not None:
                self._conn.execute("UPDATE eval_runs SET cases = ? WHERE run_id = ?", (json.dumps(kept), run_id))

    def get_eval_run(self, run_id: str, tenant: str | None = None) -> dict[str, Any] | None:
        """The run, or None when there is none (or, given `tenant`, when it is another tenant's)."""
        row = self._one(f"SELECT {', '.join(self._RUN_COLUMNS)}, tenant FROM eval_runs WHERE run_id = ?", (run_id,))
        if row is None or (tenant is not None and row[-1] != tenant):
            return None
        run = dict(zip(self._RUN_COLUMNS, row[:-1], strict=True))
        return {**{k: json.loads(v) if k in self._RUN_JSON else v for k, v in run.items()}, "tenant": row[-1]}

    def list_eval_runs(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Every run, oldest first; given `tenant`, only that tenant's."""
        where, params = ("WHERE tenant = ?", (tenant,)) if tenant is not None else ("", ())
        rows = self._all(
            f"SELECT run_id, created_at, kind, dataset, split, pipeline, metrics, tenant FROM eval_runs "
            f"{where} ORDER BY rowid",
            params,
        )
        keys = ("run_id", "created_at", "kind", "dataset", "split", "pipeline", "metrics", "tenant")
        return [{**dict(zip(keys, r, strict=True)), "metrics": json.loads(r[6])} for r in rows]

    # -- cache -----------------------------------------------------------------------------------

    def cache_get(self, namespace: str, key: str) -> str | None:
        row = self._one("SELECT value, expires_at FROM cache_entries WHERE namespace = ? AND key = ?", (namespace, key))
        if row is None or (row[1] is not None and row[1] <= time.time()):
            return None
        return str(row[0])  # value TEXT NOT NULL

    def cache_put(self, namespace: str, key: str, value: str, ttl_s: float | None = None, sources: Quoted = ()) -> None:
        """Keep `value` for `ttl_s` seconds (None: for good, as judge verdicts are); expired entries
        of every namespace, and their links to documents, are deleted on the way (see CACHE_PURGE_EVERY_S).
        `sources`: the documents the value was made from (doc_id -> version read), checked, and
        the entry linked to them, in the same transaction (store/quoted.py)."""
        now, made_from = time.time(), sources_of(sources)
        with self._lock, self._transaction(stamp=False):
            if not cache_sources_current(self._conn, namespace, key, made_from):
                return
            link_cache(self._conn, namespace, key, made_from)
            self._conn.execute(
                "INSERT OR REPLACE INTO cache_entries(namespace, key, value, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (namespace, key, value, now, now + ttl_s if ttl_s is not None else None),
            )
            if now >= self._cache_purge_at:
                self._conn.execute(
                    "DELETE FROM cache_sources WHERE (namespace, key) IN (SELECT namespace, key "
                    "FROM cache_entries WHERE expires_at <= ?)",
                    (now,),
                )
                self._conn.execute("DELETE FROM cache_entries WHERE expires_at <= ?", (now,))
                self._cache_purge_at = now + min(CACHE_PURGE_EVERY_S, ttl_s or CACHE_PURGE_EVERY_S)

    # -- model calls and budgets -----------------------------------------------------------------

    def reserve_budget(
        self,
        reservation_id: str,
        checks: Sequence[BudgetCheck],
        amount_usd: float,
        hold_s: float = 600.0,
    ) -> tuple[str, float, float] | None:
        """Reserve `amount_usd` against each (budget, scope column, subject, since, limit), all or
        none, in one write transaction. Returns None, or the first (budget, used, limit) it would pass."""
        now = time.time()
        with self._lock, self._transaction(stamp=False):
            for budget, column, subject, since, limit, counted in (BudgetCheck(*c) for c in checks):
                used = (
                    self._spent(column, subject, since, counted)
                    + (
                        self._conn.execute(
                            "SELECT COALESCE(SUM(amount_usd), 0) FROM budget_reservations WHERE budget = ? "
                            "AND subject IS ? AND expires_at > ?",
                            (budget, subject, now),
                        ).fetchone()[0]
                    )
                )
                if used + amount_usd > limit + 1e-12:
                    self._conn.execute("DELETE FROM budget_reservations WHERE reservation_id = ?", (reservation_id,))
                    return budget, used, limit
                self._conn.execute(
                    "INSERT INTO budget_reservations VALUES (?, ?, ?, ?, ?)",
                    (reservation_id, budget, subject, amount_usd, now + hold_s),
                )
        return None

    def _spent(self, column: str, subject: str | None, since: float, counted: Sequence[str] = ()) -> float:
        assert column in ("key_id", "tenant", "route", "model", "1")
        where = "1" if column == "1" else f"{column} IS ?"
        params: tuple[Any, ...] = (since,) if column == "1" else (subject, since)
        if counted and column != "1":
            where, params = f"{column} IN ({', '.join('?' * len(counted))})", (*counted, since)
        return float(
            self._conn.execute(
                f"SELECT COALESCE(SUM(cost_usd), 0) FROM model_calls WHERE {where} AND started_at >= ?", params
            ).fetchone()[0]
        )

    def spent_usd(self, column: str, subject: str | None, since: float = 0.0) -> float:
        with self._lock:
            return self._spent(column, subject, since)

    def record_call(self, record: dict[str, Any], reservation_id: str | None = None) -> None:
        """Store a call and release its reservation in the same transaction: the money is never
        counted twice or not at all."""
        usage = record["usage"]
        with self._lock, self._transaction(stamp=False):
            if reservation_id:
                self._conn.execute("DELETE FROM budget_reservations WHERE reservation_id = ?", (reservation_id,))
            self._conn.execute(
                "INSERT INTO model_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record["call_id"],
                    record["started_at"],
                    record["route"],
                    record["model"],
                    record.get("key_id"),
                    record.get("tenant"),
                    usage["input_tokens"],
                    usage["output_tokens"],
                    record["cost_usd"],
                    int(record["cached"]),
                    record["latency_ms"],
                    record.get("error"),
                    json.dumps(record),
                ),
            )

    def release_budget(self, reservation_id: str) -> None:
        with self._lock, self._transaction(stamp=False):
            self._conn.execute("DELETE FROM budget_reservations WHERE reservation_id = ?", (reservation_id,))

    def usage_summary(self, by: str = "route", since: float = 0.0) -> list[dict[str, Any]]:
        assert by in ("key_id", "tenant", "route", "model")
        rows = self._all(
            f"SELECT {by}, COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(cost_usd), SUM(cached), "
            f"SUM(error IS NOT NULL) FROM model_calls WHERE started_at >= ? GROUP BY {by} ORDER BY {by}",
            (since,),
        )
        keys = (by, "calls", "input_tokens", "output_tokens", "cost_usd", "cached", "errors")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def cache_scan(self, namespace: str, limit: int = 1000) -> list[tuple[str, str]]:
        """The newest live entries of a namespace: (key, value)."""
        return [
            (k, v)
            for k, v in self._all(
                "SELECT key, value FROM cache_entries WHERE namespace = ? AND (expires_at IS NULL OR expires_at > ?) "
                "ORDER BY created_at DESC LIMIT ?",
                (namespace, time.time(), limit),
            )
        ]

    def chunk_texts(self, doc_id: str) -> list[str]:
        """A document's chunk texts in reading order."""
        return [r[0] for r in self._all("SELECT text FROM chunks WHERE doc_id = ? ORDER BY ordinal", (doc_id,))]
