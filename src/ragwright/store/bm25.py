"""Okapi BM25 over an in-memory sparse term x chunk matrix (the bm25s approach: a query's
scores are a sum of precomputed columns). The store keeps each chunk's term counts in SQLite,
written in the same transaction as the chunk; this index is derived from them and rebuilt when
stale. Measured at 100k chunks it answers in a few milliseconds, where FTS5's bm25() took
~40-100 ms because it scores every matching row in SQL.

Analysis follows Lucene's EnglishAnalyzer (the reference BM25 in BEIR tables): lower case,
possessive 's removed, Lucene's English stop words, Porter stemming; BM25 with k1=0.9, b=0.4
as in Anserini's BEIR runs, and Lucene's idf = ln(1 + (N - df + 0.5) / (df + 0.5)).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .subsets import Subsets, top_k


def encode_counts(term_ids: Sequence[int], counts: Sequence[int]) -> bytes:
    """A chunk's term counts as one blob: uint32 term ids, then uint16 counts."""
    return np.asarray(term_ids, dtype=np.uint32).tobytes() + np.minimum(counts, 65535).astype(np.uint16).tobytes()


def decode_counts(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    n = len(blob) // 6
    return np.frombuffer(blob, dtype=np.uint32, count=n), np.frombuffer(blob, dtype=np.uint16, offset=4 * n, count=n)


class SparseBM25:
    """Chunk positions are those of `ids` (ascending chunk rowids); term ids index columns."""

    def __init__(self, ids: np.ndarray, blobs: Sequence[bytes], n_terms: int, k1: float = 0.9, b: float = 0.4) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        n = len(self.ids)
        decoded = [decode_counts(blob) for blob in blobs]
        sizes = np.fromiter((len(t) for t, _ in decoded), dtype=np.int64, count=n)
        terms = np.concatenate([t for t, _ in decoded]) if n else np.zeros(0, np.uint32)
        tf = np.concatenate([c for _, c in decoded]).astype(np.float32) if n else np.zeros(0, np.float32)
        rows = np.repeat(np.arange(n, dtype=np.int32), sizes)
        lengths = np.bincount(rows, weights=tf, minlength=n).astype(np.float32)
        df = np.bincount(terms, minlength=n_terms) if len(terms) else np.zeros(n_terms, np.int64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        avgdl = float(lengths.mean()) if n else 1.0
        norm = k1 * (1.0 - b + b * lengths[rows] / max(avgdl, 1e-9))
        weights = idf[terms] * tf * (k1 + 1.0) / (tf + norm)
        order = np.argsort(terms, kind="stable")
        self.rows = rows[order]
        self.weights = weights[order].astype(np.float32)
        self.tf = tf[order].astype(np.uint16)  # for statistics over a filter's chunks only
        self.lengths = lengths
        self.k1, self.b = k1, b
        self.indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        self._subsets = Subsets(self.ids)
        self._scopes: dict[int, tuple[np.ndarray, int, float]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, term_ids: Sequence[int], k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top k (chunk rowid, BM25 score) for a query given as term ids (a term twice counts twice).
        Each distinct term's postings are read once and weighted by its repeats: a query of one
        word 800 times read that word's postings 800 times (16M entries, +77 MB, review 15)."""
        known = [t for t in term_ids if 0 <= t < len(self.indptr) - 1]
        terms, repeats = np.unique(np.asarray(known, dtype=np.int64), return_counts=True)
        found = [(self.indptr[t], self.indptr[t + 1], m) for t, m in zip(terms, repeats, strict=True)]
        found = [(lo, hi, m) for lo, hi, m in found if hi > lo]
        if not found or not len(self.ids) or k <= 0:
            return []
        spans = [(lo, hi) for lo, hi, _ in found]
        # a repeated term's weight times its repeats, in float64 as bincount sums: w * 2 is w + w exactly
        times = np.repeat([m for *_, m in found], [hi - lo for lo, hi in spans]) if repeats.max() > 1 else None
        if allowed is None:
            rows = np.concatenate([self.rows[lo:hi] for lo, hi in spans])
            weights = np.concatenate([self.weights[lo:hi] for lo, hi in spans])
            weights = weights if times is None else weights.astype(np.float64) * times
        else:
            rows, weights = self._scoped_postings(spans, allowed, times)
        scores = np.bincount(rows, weights=weights, minlength=len(self.ids))
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            hits = hits[top_k(scores[hits], k)]
        hits = hits[np.lexsort((self.ids[hits], -scores[hits]))]
        return list(zip(self.ids[hits].tolist(), scores[hits].tolist(), strict=True))  # in C: 25 -> 6 us for 100

    def _scoped_postings(
        self, spans: list[tuple[int, int]], allowed: np.ndarray, times: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The query terms' postings among the allowed chunks, weighted with BM25 statistics
        (chunk count, document frequencies, average length) of those chunks alone: a score must
        not depend on text the reader may not see, or it would tell whether a word occurs there.
        One pass over all the query terms' postings at once (a term's df is its count of kept
        postings), not a dozen numpy calls per term: 0.17 -> 0.10 ms a SciFact query at 2k chunks,
        the same floats."""
        mask, n, avgdl = self._scope(allowed)
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        sizes = np.array([hi - lo for lo, hi in spans], dtype=np.int64)  # each > 0 (search drops empty spans)
        rows = np.concatenate([self.rows[lo:hi] for lo, hi in spans])
        keep = mask[rows]
        df = np.add.reduceat(keep, np.cumsum(sizes) - sizes, dtype=np.int64)
        idf = np.repeat(np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32), sizes)[keep]
        rows = rows[keep]
        tf = np.concatenate([self.tf[lo:hi] for lo, hi in spans])[keep].astype(np.float32)
        norm = self.k1 * (1.0 - self.b + self.b * self.lengths[rows] / avgdl)
        weights = idf * tf * (self.k1 + 1.0) / (tf + norm)
        return rows, weights if times is None else weights.astype(np.float64) * times[keep]

    def _scope(self, allowed: np.ndarray) -> tuple[np.ndarray, int, float]:
        """(mask, chunk count, average length) of an allowed set, kept while the set is."""
        _, mask = self._subsets.of(allowed)
        hit = self._scopes.get(id(allowed))
        if hit is not None and hit[0] is mask:
            return hit
        n = int(mask.sum())
        avgdl = max(float(self.lengths[mask].mean()) if n else 1.0, 1e-9)
        if len(self._scopes) >= self._subsets.size:
            self._scopes.pop(next(iter(self._scopes)))
        self._scopes[id(allowed)] = (mask, n, avgdl)
        return mask, n, avgdl
