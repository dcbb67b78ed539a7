"""Search over the in-memory indexes derived from the SQLite file (BM25, dense vectors, the
allowed rows of a filter, rowid -> chunk id names). Mixed into SqliteStore.

A search reads the write generation once and hands it on: each derived structure is reused while
it matches, with no further query; a write bumps the generation and they are rebuilt when next
needed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ..analysis import Analyzer
from .base import Filters
from .bm25 import SparseBM25
from .glob_slots import glob_slot
from .sql import Row
from .sql import filter_sql as _filter_sql
from .vectors import ExactIndex, build_index


class SearchMixin:
    _lock: threading.RLock
    _conn: Any
    _all: Callable[..., list[Row]]
    get_meta: Callable[[str], str | None]
    _load_vocab: Callable[[], None]
    analyzer: Analyzer
    ann_threshold: int
    bm25_params: tuple[float, float]
    _derived_state: dict[str, tuple[int, Any]]
    _vocab: dict[str, int]
    _vocab_generation: int | None
    _allowed_cache: dict[str, tuple[Any, np.ndarray]]
    _names: dict[int, str]
    _names_generation: int | None

    def keyword_search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        generation = self._generation()
        index = self._derived("bm25", self._build_sparse, generation)
        vocab = self._current_vocab(generation)
        term_ids = [vocab[t] for t in self.analyzer.terms(query) if t in vocab]
        if not term_ids:
            return []
        return self._to_chunk_ids(index.search(term_ids, k, self._allowed(filters, generation)), generation)

    def vector_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        generation = self._generation()
        index = self._derived("dense", self._build_dense, generation)
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        return self._to_chunk_ids(index.search(query, k, self._allowed(filters, generation)), generation)

    def warm(self) -> None:
        """Build the in-memory indexes now rather than in the first search that needs them."""
        generation = self._generation()
        self._derived("bm25", self._build_sparse, generation)
        self._derived("dense", self._build_dense, generation)
        self._current_vocab(generation)

    def _current_vocab(self, generation: int) -> dict[str, int]:
        """The term vocabulary as of `generation` (terms other writers added are read once per write)."""
        if self._vocab_generation != generation:
            with self._lock:
                self._load_vocab()
                self._vocab_generation = generation
        return self._vocab

    def indexes_current(self) -> bool:
        """Whether a search would find its in-memory indexes built (no rebuild after a write)."""
        generation = self._generation()
        return all(self._derived_state.get(name, (None,))[0] == generation for name in ("dense", "bm25"))

    def _generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def _allowed(self, filters: Filters | None, generation: int) -> np.ndarray | None:
        """Chunk rowids that pass the filters, for ranking among them only; None when unfiltered.
        Kept per filter until the next write: a server asks with the same access filter again and again."""
        if not filters:
            return None
        key = repr(sorted((k, tuple(v) if isinstance(v, (list, set, tuple)) else v) for k, v in filters.items()))
        hit = self._allowed_cache.get(key)
        if hit is not None and hit[0] == generation:
            return hit[1]
        where, params = _filter_sql(filters)
        with glob_slot(filters):  # a `source` pattern costs what the tenant holds: a few at once
            rows = self._all(
                f"SELECT c.rowid FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE 1=1 {where} "
                "ORDER BY c.rowid",
                params,
            )
        allowed = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if len(self._allowed_cache) >= 256:
            del self._allowed_cache[next(iter(self._allowed_cache))]  # the oldest
        self._allowed_cache[key] = (generation, allowed)  # read before the rows: a write between means a re-read
        return allowed

    def _to_chunk_ids(self, hits: list[tuple[int, float]], generation: int) -> list[tuple[str, float]]:
        """Rowids to chunk ids through a map kept until the next write (a rowid can be reused after
        a deletion), so a warm search asks SQLite nothing here."""
        if not hits:
            return []
        names = self._names
        if generation != self._names_generation or len(names) > 2_000_000:
            names = {}
        missing = [r for r, _ in hits if r not in names]
        if missing:
            names.update(self._chunk_ids(missing))
        self._names, self._names_generation = names, generation
        return [(names[r], s) for r, s in hits if r in names]

    def _chunk_ids(self, rowids: list[int]) -> list[tuple[int, str]]:
        marks = ",".join("?" * len(rowids))
        return self._all(f"SELECT rowid, chunk_id FROM chunks WHERE rowid IN ({marks})", rowids)

    def _derived(self, name: str, build: Callable[[], Any], generation: int) -> Any:
        """An in-memory index as of `generation`: checked without the lock (a search must not wait
        behind another), rebuilt under it with generation and data read together."""
        held = self._derived_state.get(name)
        if held is not None and held[0] == generation:
            return held[1]
        with self._lock:
            generation = self._generation()
            held = self._derived_state.get(name)
            if held is None or held[0] != generation:
                held = self._derived_state[name] = (generation, build())
            return held[1]

    def _build_dense(self) -> ExactIndex:
        ids, blobs = self._column("SELECT chunk_rowid, vector FROM vectors ORDER BY chunk_rowid")
        matrix = (
            np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), -1)
            if len(ids)
            else np.zeros((0, 1), dtype=np.float32)
        )
        return build_index(ids, matrix, self.ann_threshold)

    def _build_sparse(self) -> SparseBM25:
        ids, blobs = self._column("SELECT chunk_rowid, counts FROM chunk_terms ORDER BY chunk_rowid")
        n_terms = self._conn.execute("SELECT coalesce(max(id), 0) + 1 FROM terms").fetchone()[0]
        return SparseBM25(ids, blobs, n_terms, *self.bm25_params)

    def _column(self, sql: str) -> tuple[np.ndarray, list[bytes]]:
        rows = self._conn.execute(sql).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)), [r[1] for r in rows]
