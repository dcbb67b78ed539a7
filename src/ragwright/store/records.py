"""Records kept beside the documents: evaluation runs, and a keyed cache for model calls.

Mixed into SqliteStore; both use its connection, lock and transactions, so a record is written
whole or not at all."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, ContextManager, Sequence


class RecordsMixin:
    _lock: threading.RLock
    _conn: Any
    _transaction: Callable[[], ContextManager[Any]]
    _one: Callable[..., tuple | None]
    _all: Callable[..., list[tuple]]

    # -- evaluation runs -----------------------------------------------------------------------

    _RUN_COLUMNS = ("run_id", "created_at", "kind", "dataset", "split", "pipeline", "dataset_hash", "code_version",
                    "config", "metrics", "per_query", "seconds", "coverage", "cases")
    _RUN_JSON = ("config", "metrics", "per_query", "coverage", "cases")

    def save_eval_run(self, run: dict[str, Any]) -> None:
        values = [json.dumps(run.get(c, {})) if c in self._RUN_JSON else run[c] for c in self._RUN_COLUMNS]
        with self._lock, self._transaction():
            self._conn.execute(f"INSERT INTO eval_runs({', '.join(self._RUN_COLUMNS)}) VALUES "
                               f"({', '.join('?' * len(self._RUN_COLUMNS))})", values)

    def get_eval_run(self, run_id: str) -> dict[str, Any] | None:
        row = self._one(f"SELECT {', '.join(self._RUN_COLUMNS)} FROM eval_runs WHERE run_id = ?", (run_id,))
        if row is None:
            return None
        run = dict(zip(self._RUN_COLUMNS, row))
        return {k: json.loads(v) if k in self._RUN_JSON else v for k, v in run.items()}

    def list_eval_runs(self) -> list[dict[str, Any]]:
        rows = self._all("SELECT run_id, created_at, kind, dataset, split, pipeline, metrics FROM eval_runs "
                         "ORDER BY rowid")
        keys = ("run_id", "created_at", "kind", "dataset", "split", "pipeline", "metrics")
        return [{**dict(zip(keys, r)), "metrics": json.loads(r[6])} for r in rows]

    # -- cache -----------------------------------------------------------------------------------

    def cache_get(self, namespace: str, key: str) -> str | None:
        row = self._one("SELECT value, expires_at FROM cache_entries WHERE namespace = ? AND key = ?",
                        (namespace, key))
        if row is None or (row[1] is not None and row[1] <= time.time()):
            return None
        return row[0]

    def cache_put(self, namespace: str, key: str, value: str, ttl_s: float | None = None) -> None:
        now = time.time()
        with self._lock, self._transaction():
            self._conn.execute("INSERT OR REPLACE INTO cache_entries(namespace, key, value, created_at, expires_at) "
                               "VALUES (?, ?, ?, ?, ?)", (namespace, key, value, now,
                                                          now + ttl_s if ttl_s is not None else None))

    def cache_delete(self, namespace: str, keys: Sequence[str] | None = None) -> int:
        """Drop some keys of a namespace, or all of it; expired entries of every namespace go too."""
        with self._lock, self._transaction():
            if keys is None:
                n = self._conn.execute("DELETE FROM cache_entries WHERE namespace = ?", (namespace,)).rowcount
            else:
                n = sum(self._conn.execute("DELETE FROM cache_entries WHERE namespace = ? AND key = ?",
                                           (namespace, k)).rowcount for k in keys)
            self._conn.execute("DELETE FROM cache_entries WHERE expires_at IS NOT NULL AND expires_at <= ?",
                               (time.time(),))
        return n
