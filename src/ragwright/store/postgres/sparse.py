"""BM25 over an in-memory index that follows PostgreSQL's tables write by write.

SQLite's SparseBM25 precomputes each posting's weight, so any write (which changes the chunk
count, the average length and document frequencies) invalidates all of it: the SQLite store
rebuilds it from the file when stale. Here several processes write one database, and rebuilding
100k chunks' postings after every write would stall searches, so this index keeps raw term counts
and scores with the statistics of the moment, at query time:

- segments of postings (term-major CSR: each term's chunk positions and counts); a refresh appends
  one segment with the chunks added since the generation it holds, and marks removed rowids dead;
- when the appended segments or the dead grow past a share of the whole, all merge into one
  segment, in memory (amortised: no re-read from the database);
- a search computes, for each query term, df, idf and the BM25 weights over the live (and, when
  filtered, allowed) chunks only: the formula and analyzer of store/bm25.py, float32 as there, so
  the same corpus gives the same scores.

Each `apply` returns a new index sharing the unchanged arrays: a search running on the old one
is not disturbed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..bm25 import decode_counts
from ..subsets import Subsets, top_k

MAX_SEGMENTS = 8
MERGE_SHARE = 0.25  # merge when appended postings or dead chunks pass this share of the whole


@dataclass(frozen=True)
class Segment:
    """Postings of some chunks, by term: positions[indptr[t]:indptr[t+1]] hold term t."""

    indptr: np.ndarray  # int64, n_terms + 1
    positions: np.ndarray  # int64, into the index's chunk arrays
    tf: np.ndarray  # uint16

    @classmethod
    def build(cls, first: int, blobs: Sequence[bytes]) -> tuple[Segment, np.ndarray]:
        """A segment of chunks at positions first, first+1, ...; also returns their lengths."""
        decoded = [decode_counts(blob) for blob in blobs]
        sizes = np.fromiter((len(t) for t, _ in decoded), dtype=np.int64, count=len(decoded))
        terms = np.concatenate([t for t, _ in decoded]).astype(np.int64) if decoded else np.zeros(0, np.int64)
        tf = np.concatenate([c for _, c in decoded]) if decoded else np.zeros(0, np.uint16)
        rows = np.repeat(np.arange(first, first + len(decoded), dtype=np.int64), sizes)
        lengths = np.bincount(rows - first, weights=tf, minlength=len(decoded)).astype(np.float32)
        return cls.from_postings(terms, rows, tf), lengths

    @classmethod
    def from_postings(cls, terms: np.ndarray, rows: np.ndarray, tf: np.ndarray) -> Segment:
        order = np.argsort(terms, kind="stable")
        counts = np.bincount(terms, minlength=1) if len(terms) else np.zeros(1, np.int64)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(indptr, rows[order], tf[order])

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        if term + 1 >= len(self.indptr):
            return _EMPTY_I, _EMPTY_U
        lo, hi = self.indptr[term], self.indptr[term + 1]
        return self.positions[lo:hi], self.tf[lo:hi]


_EMPTY_I = np.zeros(0, np.int64)
_EMPTY_U = np.zeros(0, np.uint16)


class LiveBM25:
    """Chunks by position: rowid (ascending), chunk id, length, alive."""

    def __init__(
        self,
        ids: np.ndarray,
        names: list[str],
        lengths: np.ndarray,
        alive: np.ndarray,
        segments: list[Segment],
        k1: float = 0.9,
        b: float = 0.4,
    ) -> None:
        self.ids, self.names, self.lengths, self.alive, self.segments = ids, names, lengths, alive, segments
        self.k1, self.b = k1, b
        self.n_alive = int(alive.sum())
        self._subsets = Subsets(ids)
        self._scopes: dict[int, tuple[np.ndarray | None, tuple[np.ndarray, np.ndarray, int, float]]] = {}

    @classmethod
    def empty(cls, k1: float = 0.9, b: float = 0.4) -> LiveBM25:
        return cls(np.zeros(0, np.int64), [], np.zeros(0, np.float32), np.zeros(0, bool), [], k1, b)

    @classmethod
    def build(
        cls, ids: Sequence[int], names: list[str], blobs: Sequence[bytes], k1: float = 0.9, b: float = 0.4
    ) -> LiveBM25:
        return cls.empty(k1, b).apply([], ids, names, blobs)

    def __len__(self) -> int:
        return self.n_alive

    @property
    def postings(self) -> int:
        return sum(len(s.positions) for s in self.segments)

    def apply(self, removed: Sequence[int], ids: Sequence[int], names: list[str], blobs: Sequence[bytes]) -> LiveBM25:
        """A new index: `removed` rowids dead, the chunks (ids ascending, names, term-count blobs) added."""
        alive = self.alive
        if len(removed) and len(self.ids):
            gone = np.asarray(removed, np.int64)
            where = np.searchsorted(self.ids, gone)
            where = where[where < len(self.ids)]
            where = where[np.isin(self.ids[where], gone)]
            alive = alive.copy()
            alive[where] = False
        new_ids = np.asarray(ids, np.int64)
        if not len(new_ids):
            if alive is self.alive:
                return self
            return self._replace(alive=alive)._merged_if_due()
        segment, lengths = Segment.build(len(self.ids), blobs)
        index = LiveBM25(
            np.concatenate([self.ids, new_ids]),
            self.names + list(names),
            np.concatenate([self.lengths, lengths]),
            np.concatenate([alive, np.ones(len(new_ids), bool)]),
            [*self.segments, segment],
            self.k1,
            self.b,
        )
        if (len(self.ids) and new_ids[0] <= self.ids[-1]) or np.any(np.diff(new_ids) <= 0):
            return index.merged()  # rowids out of order (a writer that skipped the generation lock): sort
        return index._merged_if_due()

    def _replace(self, alive: np.ndarray) -> LiveBM25:
        return LiveBM25(self.ids, self.names, self.lengths, alive, self.segments, self.k1, self.b)

    def _merged_if_due(self) -> LiveBM25:
        dead = len(self.ids) - self.n_alive
        appended = sum(len(s.positions) for s in self.segments[1:])
        if (
            len(self.segments) > MAX_SEGMENTS
            or dead > MERGE_SHARE * max(len(self.ids), 1)
            or appended > MERGE_SHARE * max(self.postings, 1)
        ):
            return self.merged()
        return self

    def merged(self) -> LiveBM25:
        """One segment of the live chunks, ordered by rowid."""
        keep = np.flatnonzero(self.alive)
        keep = keep[np.argsort(self.ids[keep], kind="stable")]
        new_position = np.full(len(self.ids), -1, np.int64)
        new_position[keep] = np.arange(len(keep))
        terms, rows, tfs = [], [], []
        for s in self.segments:
            term_of = np.repeat(np.arange(len(s.indptr) - 1, dtype=np.int64), np.diff(s.indptr))
            moved = new_position[s.positions]
            live = moved >= 0
            terms.append(term_of[live])
            rows.append(moved[live])
            tfs.append(s.tf[live])
        segment = Segment.from_postings(_cat(terms, np.int64), _cat(rows, np.int64), _cat(tfs, np.uint16))
        return LiveBM25(
            self.ids[keep],
            [self.names[i] for i in keep],
            self.lengths[keep],
            np.ones(len(keep), bool),
            [segment],
            self.k1,
            self.b,
        )

    def search(self, term_ids: Sequence[int], k: int, allowed: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Top k (chunk id, BM25 score) for a query given as term ids (a term twice counts twice,
        its postings read once: store/bm25), best first, ties by rowid; statistics over the live
        chunks, or the live allowed ones."""
        if k <= 0 or not self.n_alive or not len(term_ids):
            return []
        mask, lengths_norm, n, _ = self._scope(allowed)
        if n == 0:
            return []
        k1, b = self.k1, self.b
        rows_out, weights_out = [], []
        terms, repeats = np.unique(np.asarray(term_ids, dtype=np.int64), return_counts=True)
        for term, times in zip(terms.tolist(), repeats.tolist(), strict=True):
            parts = [s.postings(term) for s in self.segments]
            rows = np.concatenate([p for p, _ in parts]) if len(parts) > 1 else parts[0][0]
            tf = np.concatenate([t for _, t in parts]) if len(parts) > 1 else parts[0][1]
            keep = mask[rows]
            rows, tf = rows[keep], tf[keep].astype(np.float32)
            if not len(rows):
                continue
            df = len(rows)
            idf = np.float32(np.log1p((n - df + 0.5) / (df + 0.5)))
            norm = k1 * (1.0 - b + b * lengths_norm[rows])
            rows_out.append(rows)
            weights = idf * tf * (k1 + 1.0) / (tf + norm)  # times in float64, as bincount sums: w * 2 is w + w
            weights_out.append(weights if times == 1 else weights.astype(np.float64) * times)
        if not rows_out:
            return []
        scores = np.bincount(np.concatenate(rows_out), weights=np.concatenate(weights_out), minlength=len(self.ids))
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            hits = hits[top_k(scores[hits], k)]
        hits = hits[np.lexsort((self.ids[hits], -scores[hits]))]
        return [(self.names[i], float(scores[i])) for i in hits]

    def _scope(self, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, int, float]:
        """(mask, length / avgdl, chunk count, avgdl) of the live chunks, or the live allowed ones;
        kept per allowed array, as the store keeps one per filter until the next write."""
        key = -1 if allowed is None else id(allowed)
        hit = self._scopes.get(key)
        if hit is not None and hit[0] is allowed:
            return hit[1]
        mask = self.alive if allowed is None else self.alive & self._subsets.of(allowed)[1]
        n = int(mask.sum())
        avgdl = max(float(self.lengths[mask].mean()) if n else 1.0, 1e-9)
        if len(self._scopes) >= 64:
            self._scopes.pop(next(iter(self._scopes)))
        scope = (mask, (self.lengths / np.float32(avgdl)).astype(np.float32), n, avgdl)
        self._scopes[key] = (allowed, scope)  # holding `allowed` keeps its id unique
        return scope


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)
