"""Search in the PostgreSQL store.

Keyword: BM25 in process (sparse.py), over an index that follows the tables by write generation:
each search reads the generation (from the store's meta cache, meta.py: a round trip at most
every 0.25 s, or after this process wrote); when it moved, the chunks added since and the
rowids removed since are read in one snapshot and applied, not the whole index rebuilt. Measured
against BM25 as SQL over a postings table in bench/pg_store.py.

Dense: pgvector in the database (DensePlan). Below `ann_threshold` candidate vectors (all, or the
filter's), an exact scan; above it, the HNSW index with iterative scans, so that a filter is
applied before ranking and still fills the top k; should the index come back short (its scan
limit), the exact scan answers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ...analysis import Analyzer
from ..base import Filters
from ..glob_slots import glob_slot
from .connection import Database
from .filters import filter_sql
from .sparse import LiveBM25
from .vocab import Vocabulary


@dataclass(frozen=True)
class Held:
    """The keyword index as of a generation, with the vocabulary read in the same snapshot."""

    generation: int
    index: LiveBM25
    vocab: dict[str, int]


@dataclass(frozen=True)
class DensePlan:
    """One dense query: exact (`cosine_distance()`, which no index answers) or through the HNSW
    index (`<=>` in ORDER BY, sorting turned off so the planner walks the index rather than
    sorting a filtered set; pgvector's iterative scan keeps going until k rows pass the filter)."""

    query: np.ndarray
    k: int
    where: str
    where_params: list[Any]
    wanted: int  # min(k, candidates): fewer from the index means its scan limit cut it short
    hnsw: bool
    settings: dict[str, str] = field(default_factory=dict)  # SET LOCAL for this query

    def exact(self) -> DensePlan:
        return replace(self, hnsw=False, settings={})

    def sql(self) -> str:
        join = " JOIN documents d ON d.doc_id = c.doc_id" if self.where else ""
        if self.hnsw:  # the index scan drives a nested loop: k lookups of chunks (and documents)
            return (
                f"SELECT c.chunk_id, v.embedding <=> %b AS distance, c.rowid FROM vectors v JOIN chunks c ON "
                f"c.rowid = v.chunk_rowid{join} WHERE TRUE {self.where} ORDER BY v.embedding <=> %b LIMIT %s"
            )
        # Ranked on vectors alone, joined to chunks for the k winners only (joining every row
        # first took 60% of an exact search at 2k vectors).
        allowed = (
            f" WHERE v.chunk_rowid IN (SELECT c.rowid FROM chunks c{join} WHERE TRUE {self.where})"
            if self.where
            else ""
        )
        return (
            "SELECT c.chunk_id, s.distance, s.chunk_rowid FROM (SELECT v.chunk_rowid, cosine_distance(v.embedding, "
            f"%b) AS distance FROM vectors v{allowed} ORDER BY distance, v.chunk_rowid LIMIT %s) s "
            "JOIN chunks c ON c.rowid = s.chunk_rowid"
        )

    def params(self) -> list[Any]:
        if self.hnsw:
            return [self.query, *self.where_params, self.query, self.k]
        return [self.query, *self.where_params, self.k]


class Searcher:
    def __init__(
        self,
        db: Database,
        analyzer: Analyzer,
        ann_threshold: int,
        k1: float,
        b: float,
        generation: Callable[[], int] | None = None,
    ) -> None:
        """`generation`: the write generation as the store's meta cache holds it (meta.py); by
        default read from the database on each call."""
        self.db, self.analyzer, self.ann_threshold = db, analyzer, ann_threshold
        self._generation = generation
        self.k1, self.b = k1, b
        self._held: Held | None = None
        self._vocab = Vocabulary()
        self._lock = threading.Lock()  # one refresh at a time; searches never wait for it when current
        self._allowed: dict[str, tuple[int, np.ndarray]] = {}
        self._sizes: tuple[int, int] = (-1, 0)  # (generation, vectors)
        self.rebuilds = self.refreshes = 0  # full reads and incremental catch-ups, for tests and benchmarks

    # -- keyword ------------------------------------------------------------------------------

    def keyword_search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        generation = self.generation()
        held = self.current(generation)
        term_ids = [held.vocab[t] for t in self.analyzer.terms(query) if t in held.vocab]
        if not term_ids or k <= 0:
            return []
        return held.index.search(term_ids, k, self.allowed(filters, generation))

    def generation(self) -> int:
        if self._generation is not None:
            return self._generation()
        with self.db.read() as cur:
            cur.execute("SELECT value::bigint FROM meta WHERE key = 'generation'")
            return int(cur.fetchone()[0])

    def current(self, generation: int) -> Held:
        """The index at `generation` or later: refreshed under the lock when behind."""
        held = self._held
        if held is not None and held.generation >= generation:
            return held
        with self._lock:
            held = self._held
            if held is None or held.generation < generation:
                held = self._held = self._refresh(held)
            return held

    def _refresh(self, held: Held | None) -> Held:
        with self.db.read(snapshot=True) as cur:
            cur.execute("SELECT key, value::bigint FROM meta WHERE key IN ('generation', 'removed_floor')")
            meta = dict(cur.fetchall())
            self._vocab.sync(cur)
            if held is None or held.generation < meta["removed_floor"]:
                cur.execute(
                    "SELECT c.rowid, c.chunk_id, t.counts FROM chunks c "
                    "JOIN chunk_terms t ON t.chunk_rowid = c.rowid ORDER BY c.rowid"
                )
                rows = cur.fetchall()
                index = LiveBM25.build(
                    [r[0] for r in rows], [r[1] for r in rows], [bytes(r[2]) for r in rows], self.k1, self.b
                )
                self.rebuilds += 1
            else:
                cur.execute("SELECT rowid FROM removed_chunks WHERE generation > %s", (held.generation,))
                removed = [r[0] for r in cur.fetchall()]
                cur.execute(
                    "SELECT c.rowid, c.chunk_id, t.counts FROM chunks c "
                    "JOIN chunk_terms t ON t.chunk_rowid = c.rowid WHERE c.generation > %s ORDER BY c.rowid",
                    (held.generation,),
                )
                rows = cur.fetchall()
                index = held.index.apply(
                    removed, [r[0] for r in rows], [r[1] for r in rows], [bytes(r[2]) for r in rows]
                )
                self.refreshes += 1
        return Held(meta["generation"], index, self._vocab.ids)

    def allowed(self, filters: Filters | None, generation: int) -> np.ndarray | None:
        """Chunk rowids that pass the filters (ascending), kept per filter until the next write;
        None when unfiltered."""
        if not filters:
            return None
        key = repr(sorted((k, tuple(v) if isinstance(v, (list, set, tuple)) else v) for k, v in filters.items()))
        hit = self._allowed.get(key)
        if hit is not None and hit[0] == generation:
            return hit[1]
        where, params = filter_sql(filters)
        with glob_slot(filters), self.db.read() as cur:  # a `source` pattern: one of a few at once (glob_slots)
            cur.execute(
                f"SELECT c.rowid FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE TRUE {where} "
                "ORDER BY c.rowid",
                params,
            )
            rows = cur.fetchall()
        allowed = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if len(self._allowed) >= 256:
            self._allowed.pop(next(iter(self._allowed)))
        self._allowed[key] = (generation, allowed)
        return allowed

    # -- dense --------------------------------------------------------------------------------

    def vector_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        plan = self.dense_plan(vector, k, filters)
        if plan is None:
            return []
        with glob_slot(filters):  # the query matches the patterns again, row by row
            hits = self._run(plan)
            if plan.hnsw and len(hits) < plan.wanted:  # the iterative scan hit its limit: scan exactly
                hits = self._run(plan.exact())
        return hits

    def dense_plan(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> DensePlan | None:
        """The query vector_search runs first (None: nothing to search); `explain()` shows its plan."""
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        if k <= 0:
            return None
        generation = self.generation()
        allowed = self.allowed(filters, generation)
        total = self._vector_count(generation)
        candidates = total if allowed is None else len(allowed)
        if candidates == 0:
            return None
        where, params = filter_sql(filters)
        plan = DensePlan(query, k, where, params, min(k, candidates), hnsw=False)
        if candidates <= self.ann_threshold:
            return plan
        # An iterative scan visits up to enough tuples to find k allowed ones at the filter's share.
        scan = int(min(max(20_000, 8 * k * total / candidates), 2_000_000))
        return replace(
            plan,
            hnsw=True,
            settings={"enable_sort": "off", "hnsw.max_scan_tuples": str(scan), "hnsw.ef_search": str(max(100, k))},
        )

    def explain(self, plan: DensePlan) -> str:
        with self.db.read(local=True) as cur:
            self._settings(cur, plan)
            cur.execute("EXPLAIN " + plan.sql(), plan.params())
            return "\n".join(r[0] for r in cur.fetchall())

    def _run(self, plan: DensePlan) -> list[tuple[str, float]]:
        with self.db.read(local=bool(plan.settings)) as cur:
            self._settings(cur, plan)
            cur.execute(plan.sql(), plan.params())
            rows = sorted(cur.fetchall(), key=lambda r: (r[1], r[2]))  # relaxed order: sort what came
        return [(cid, 1.0 - float(distance)) for cid, distance, _ in rows]

    @staticmethod
    def _settings(cur: Any, plan: DensePlan) -> None:
        if plan.settings:
            names = list(plan.settings)
            cur.execute(
                "SELECT " + ", ".join("set_config(%s, %s, true)" for _ in names),
                [x for name in names for x in (name, plan.settings[name])],
            )

    def _vector_count(self, generation: int) -> int:
        held, count = self._sizes
        if held != generation:
            with self.db.read() as cur:
                cur.execute("SELECT count(*) FROM vectors")
                count = int(cur.fetchone()[0])
            self._sizes = (generation, count)
        return count

    def warm(self) -> None:
        self.current(self.generation())
