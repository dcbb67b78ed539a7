"""What `ragwright learn` made from feedback, versioned. Mixed into SqliteStore.

A version is one row of `learned` (its kind, when, a report, the model as an npz blob, whether it
is the active one, and which version was active before it) plus its relevance marks in
`learned_marks`, one row per (feedback query, chunk or document): deleting a document deletes
its marks in the same transaction (a trigger), so no version keeps pointing at it. Saving and
activating a version is one transaction, so a crash leaves the previous version active.
Activating or rolling back bumps `meta.learned`, which readers compare to know when to reload."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from .sql import Row

KEEP_VERSIONS = 5  # the active version and the ones a rollback can go back to


class LearnedMixin:
    _lock: threading.RLock
    _conn: sqlite3.Connection
    _transaction: Callable[..., AbstractContextManager[None]]
    get_meta: Callable[[str], str | None]
    _one: Callable[..., Row | None]
    _all: Callable[..., list[Row]]

    def save_learned(
        self, kind: str, blob: bytes, marks: Sequence[tuple[int, str, str | None, float]], report: dict[str, Any]
    ) -> int:
        """Store a new version and make it the active one, all or nothing; returns its number.
        marks: (example, doc_id, chunk_id or None, weight); marks on documents no longer stored
        (deleted while learning) are dropped."""
        with self._lock, self._transaction():
            version = int(self._conn.execute("SELECT coalesce(max(version), 0) + 1 FROM learned").fetchone()[0])
            row = self._conn.execute("SELECT version FROM learned WHERE active = 1").fetchone()
            self._conn.execute(
                "INSERT INTO learned(version, kind, created_at, active, previous, report, blob) "
                "VALUES (?, ?, ?, 0, ?, ?, ?)",
                (version, kind, time.time(), row[0] if row else None, json.dumps(report), blob),
            )
            self._conn.executemany(
                "INSERT INTO learned_marks(version, example, doc_id, chunk_id, weight) SELECT ?, ?, ?, ?, ? "
                "WHERE EXISTS (SELECT 1 FROM documents WHERE doc_id = ?)",
                [(version, int(e), d, c, float(w), d) for e, d, c, w in marks],
            )
            self._activate(version)
            keep = [version]
            while len(keep) < KEEP_VERSIONS:
                prev = self._conn.execute("SELECT previous FROM learned WHERE version = ?", (keep[-1],)).fetchone()
                if prev is None or prev[0] is None:
                    break
                keep.append(prev[0])
            self._conn.execute(f"DELETE FROM learned WHERE version NOT IN ({','.join('?' * len(keep))})", keep)
        return version

    def _activate(self, version: int | None) -> None:
        self._conn.execute("UPDATE learned SET active = (version IS ?)", (version,))
        self._conn.execute(
            "INSERT INTO meta(key, value) VALUES ('learned', '1') ON CONFLICT(key) DO UPDATE "
            "SET value = CAST(value AS INTEGER) + 1"
        )

    def rollback_learned(self) -> tuple[int | None, int | None]:
        """Make the version that was active before the active one active again (none: retrieval as
        shipped); the rolled-back version is dropped. Returns (from, to); (None, None) when no
        version is active."""
        with self._lock, self._transaction():
            row = self._conn.execute("SELECT version, previous FROM learned WHERE active = 1").fetchone()
            if row is None:
                return None, None
            previous = self._conn.execute("SELECT version FROM learned WHERE version = ?", (row[1],)).fetchone()
            to = previous[0] if previous else None
            self._activate(to)
            self._conn.execute("DELETE FROM learned WHERE version = ?", (row[0],))
        return row[0], to

    def active_learned(self) -> dict[str, Any] | None:
        """The active version: version, kind, created_at, report, blob and marks, or None."""
        row = self._one("SELECT version, kind, created_at, report, blob FROM learned WHERE active = 1")
        if row is None:
            return None
        marks = self._all(
            "SELECT example, doc_id, chunk_id, weight FROM learned_marks WHERE version = ? "
            "ORDER BY example, doc_id, chunk_id",
            (row[0],),
        )
        return {
            "version": row[0],
            "kind": row[1],
            "created_at": row[2],
            "report": json.loads(row[3]),
            "blob": bytes(row[4]),
            "marks": marks,
        }

    def list_learned(self) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT l.version, l.kind, l.created_at, l.active, l.previous, l.report, "
            "(SELECT count(*) FROM learned_marks m WHERE m.version = l.version) "
            "FROM learned l ORDER BY l.version"
        )
        return [
            {
                "version": v,
                "kind": k,
                "created_at": c,
                "active": bool(a),
                "previous": p,
                "report": json.loads(r),
                "marks": n,
            }
            for v, k, c, a, p, r, n in rows
        ]

    def learned_stamp(self) -> tuple[str | None, str | None]:
        """Changes whenever what retrieval should apply may have changed: a version activated or
        rolled back (meta.learned), or documents written or deleted (meta.generation)."""
        return self.get_meta("learned"), self.get_meta("generation")

    def chunk_vectors(self) -> tuple[list[str], np.ndarray]:
        """Chunk ids and their stored vectors (float32 rows), in rowid order; for learning."""
        rows = self._all(  # every vector: not bounded by the statement timeout
            "SELECT c.chunk_id, v.vector FROM chunks c JOIN vectors v ON v.chunk_rowid = c.rowid ORDER BY c.rowid",
            bounded=False,
        )
        if not rows:
            return [], np.zeros((0, 0), np.float32)
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        return [r[0] for r in rows], matrix
