"""In-memory dense index over the store's vectors. Exact search scans a float16 copy of the
matrix with usearch's SIMD kernels: half the memory of float32 and the same top 100 (at 100k x
384 on 2 cores: 7.8 ms against numpy float32's 8.2 ms idle, 7 against 16 ms on a busy machine). An HNSW index
(usearch) takes over above `ann_threshold`. Either is derived data, rebuilt from SQLite when stale."""

from __future__ import annotations

import os

import numpy as np


class ExactIndex:
    def __init__(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        self.ids = ids.astype(np.int64, copy=False)  # ascending, as the store loads them
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float16)
        self._threads = os.cpu_count() or 1

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top k (id, cosine) among all vectors, or among `allowed` ids when a filter applies."""
        if not len(self.ids) or k <= 0:
            return []
        if allowed is not None:
            positions = np.searchsorted(self.ids, allowed)
            positions = positions[positions < len(self.ids)]
            positions = positions[np.isin(self.ids[positions], allowed)]
            if not len(positions):
                return []
            scores = self.matrix[positions].astype(np.float32) @ query
            ids = self.ids[positions]
        else:
            from usearch.index import MetricKind, search

            found = search(self.matrix, query.astype(np.float16), min(k, len(self.ids)), MetricKind.IP, exact=True,
                           threads=self._threads)
            keys = np.asarray(found.keys, dtype=np.int64)
            return [(int(self.ids[p]), 1.0 - float(d)) for p, d in zip(keys, found.distances)]
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(ids[i]), float(scores[i])) for i in top]


class HnswIndex(ExactIndex):
    """usearch HNSW for unfiltered queries over large collections; filtered queries stay exact."""

    def __init__(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        super().__init__(ids, matrix)
        from usearch.index import Index

        self._index = Index(ndim=matrix.shape[1], metric="ip", dtype="f16", connectivity=16, expansion_add=128,
                            expansion_search=128)
        if len(ids):
            self._index.add(self.ids, self.matrix)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        if allowed is not None or not len(self.ids):
            return super().search(query, k, allowed)
        found = self._index.search(query.astype(np.float16), min(k, len(self.ids)))
        return [(int(key), 1.0 - float(dist)) for key, dist in zip(found.keys, found.distances)]


def build_index(ids: np.ndarray, matrix: np.ndarray, ann_threshold: int) -> ExactIndex:
    if ann_threshold and len(ids) > ann_threshold:
        return HnswIndex(ids, matrix)
    return ExactIndex(ids, matrix)
