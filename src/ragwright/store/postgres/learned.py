"""What `ragwright learn` made from feedback, versioned, in PostgreSQL. Mixed into PostgresStore;
the same methods and promises as the SQLite store's (store/learned.py): a version and its marks
are saved and activated in one transaction (a crash leaves the previous version active), a
document's marks go with it whatever deletes it (a trigger), and activating or rolling back bumps
`meta.learned`, which every process compares (learned_stamp) to know when to reload.

Saving and rolling back take the `learned` table's lock first: two processes learning at once
get consecutive version numbers and one active version, never the same number twice."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..learned import KEEP_VERSIONS, LearnedMixin
from .connection import Database
from .meta import MetaCache

Row = tuple[Any, ...]


class PgLearnedMixin(LearnedMixin):
    """list_learned is SQLite's (its SQL is the same here); learned_stamp reads the meta cache (meta.py)."""

    db: Database
    _meta: MetaCache

    def learned_stamp(self) -> tuple[str | None, str | None]:
        """(meta.learned, meta.generation), read together with the embedder in one query and kept
        a moment (meta.py): it is read on every search."""
        values = self._meta.values(self.db)
        return values.get("learned"), values.get("generation")

    def save_learned(
        self, kind: str, blob: bytes, marks: Sequence[tuple[int, str, str | None, float]], report: dict[str, Any]
    ) -> int:
        """Store a new version and make it the active one, all or nothing; returns its number.
        marks: (example, doc_id, chunk_id or None, weight); marks on documents no longer stored
        (deleted while learning) are dropped."""
        with self.db.write(generation=False) as (cur, _):
            cur.execute("LOCK TABLE learned IN EXCLUSIVE MODE")
            cur.execute("SELECT coalesce(max(version), 0) + 1, (SELECT version FROM learned WHERE active) FROM learned")
            version, previous = cur.fetchone()
            cur.execute(
                "INSERT INTO learned(version, kind, created_at, active, previous, report, blob) "
                "VALUES (%s, %s, %s, false, %s, %s, %s)",
                (version, kind, time.time(), previous, json.dumps(report), blob),
            )
            if marks:
                cur.execute(
                    "INSERT INTO learned_marks(version, example, doc_id, chunk_id, weight) "
                    "SELECT %s, m.example, m.doc_id, m.chunk_id, m.weight "
                    "FROM unnest(%s::int[], %s::text[], %s::text[], %s::float8[]) WITH ORDINALITY "
                    "AS m(example, doc_id, chunk_id, weight, n) "
                    "WHERE EXISTS (SELECT 1 FROM documents d WHERE d.doc_id = m.doc_id) ORDER BY m.n",
                    (
                        version,
                        [int(e) for e, _, _, _ in marks],
                        [d for _, d, _, _ in marks],
                        [c for _, _, c, _ in marks],
                        [float(w) for _, _, _, w in marks],
                    ),
                )
            _activate(cur, version)
            keep = [version]
            while len(keep) < KEEP_VERSIONS:
                cur.execute("SELECT previous FROM learned WHERE version = %s", (keep[-1],))
                prev = cur.fetchone()
                if prev is None or prev[0] is None:
                    break
                keep.append(prev[0])
            cur.execute("DELETE FROM learned WHERE NOT (version = ANY(%s))", (keep,))
        self._meta.moved()  # meta.learned
        return int(version)

    def rollback_learned(self) -> tuple[int | None, int | None]:
        """Make the version that was active before the active one active again (none: retrieval as
        shipped); the rolled-back version is dropped. Returns (from, to); (None, None) when no
        version is active."""
        with self.db.write(generation=False) as (cur, _):
            cur.execute("LOCK TABLE learned IN EXCLUSIVE MODE")
            cur.execute(
                "SELECT l.version, p.version FROM learned l LEFT JOIN learned p ON p.version = l.previous "
                "WHERE l.active"
            )
            row = cur.fetchone()
            if row is None:
                return None, None
            _activate(cur, row[1])
            cur.execute("DELETE FROM learned WHERE version = %s", (row[0],))
        self._meta.moved()  # meta.learned
        return row[0], row[1]

    def active_learned(self) -> dict[str, Any] | None:
        """The active version: version, kind, created_at, report, blob and marks, or None."""
        with self.db.read(snapshot=True) as cur:  # the version and its marks as of one commit
            cur.execute("SELECT version, kind, created_at, report, blob FROM learned WHERE active")
            row = cur.fetchone()
            if row is None:
                return None
            cur.execute(
                "SELECT example, doc_id, chunk_id, weight FROM learned_marks WHERE version = %s "
                'ORDER BY example, doc_id COLLATE "C", chunk_id COLLATE "C" NULLS FIRST',
                (row[0],),
            )
            marks = [tuple(m) for m in cur.fetchall()]
        version = dict(zip(("version", "kind", "created_at"), row[:3], strict=True))
        return {**version, "report": json.loads(row[3]), "blob": bytes(row[4]), "marks": marks}

    def chunk_vectors(self) -> tuple[list[str], np.ndarray]:
        """Chunk ids and their stored vectors (float32 rows), in rowid order; for learning."""
        with self.db.read(snapshot=True, binary=True) as cur:  # every vector: not bounded by the statement timeout
            cur.execute(
                "SELECT c.chunk_id, v.embedding FROM chunks c JOIN vectors v ON v.chunk_rowid = c.rowid "
                "ORDER BY c.rowid"
            )
            rows = cur.fetchall()
        if not rows:
            return [], np.zeros((0, 0), np.float32)
        matrix = np.stack([np.asarray(vec.to_numpy(), dtype=np.float32) for _, vec in rows])
        return [r[0] for r in rows], matrix


def _activate(cur: Any, version: int | None) -> None:
    cur.execute("UPDATE learned SET active = (version IS NOT DISTINCT FROM %s)", (version,))
    cur.execute(
        "INSERT INTO meta(key, value) VALUES ('learned', '1') "
        "ON CONFLICT (key) DO UPDATE SET value = (meta.value::bigint + 1)::text"
    )
