"""In-memory dense index over the store's vectors. Exact search scans a float16 copy of the
matrix with SIMD kernels (numkong, usearch's own): half the memory of float32 and the same top 100 (at 100k x
384 on 2 cores: 7.8 ms against numpy float32's 8.2 ms idle, 7 against 16 ms on a busy machine). An HNSW index
(usearch) takes over above `ann_threshold`. Either is derived data, rebuilt from SQLite when stale."""

from __future__ import annotations

import contextlib
import os

import numpy as np

from .subsets import Subsets, top_k


class ExactIndex:
    def __init__(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        self.ids = ids.astype(np.int64, copy=False)  # ascending, as the store loads them
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float16)
        # One thread per search below a few million values: the server runs searches side by side,
        # and spreading a 10k-vector scan over threads costs more (3.8 ms) than it saves (1.0 ms).
        self._threads = 1 if self.matrix.size < 20_000_000 else (os.cpu_count() or 1)
        self._subsets = Subsets(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top k (id, cosine) among all vectors, or among `allowed` ids when a filter applies."""
        if not len(self.ids) or k <= 0:
            return []
        if allowed is None:
            return self._hits(self.ids, *self._scan(self.matrix, query, k))
        positions, mask = self._subsets.of(allowed)
        if len(positions) == len(self.ids):
            return self._hits(self.ids, *self._scan(self.matrix, query, k))
        if not len(positions):
            return []
        share = len(positions) / len(self.ids)
        if share >= 0.05:
            # Scan everything for more than k and keep the allowed: exact whenever k of them are
            # among the top `wide` (checked), and cheaper than copying the subset out.
            wide = min(len(self.ids), int(k / share * 2) + 32)
            found, distances = self._scan(self.matrix, query, wide)
            keep = mask[found]
            if keep.sum() >= min(k, len(positions)) or wide == len(self.ids):
                return self._hits(self.ids, found[keep][:k], distances[keep][:k])
        found, distances = self._scan(self.matrix[positions], query, k)
        return self._hits(self.ids[positions], found, distances)

    def _scan(self, matrix: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions and distances (1 - inner product) of the k nearest rows, exactly. numkong's
        float16 dot kernel (what usearch runs inside) called directly: usearch's exact `search()`
        wraps it in batch scheduling that took 3x as long on 10k x 384 (1.35 against 0.45 ms)."""
        import numkong

        scores = np.asarray(
            numkong.cdist(query.astype(np.float16)[None], matrix, metric="dot", threads=self._threads), dtype=np.float32
        )[0]
        top = top_k(scores, k)
        top = top[np.argsort(-scores[top], kind="stable")]
        return top.astype(np.int64), 1.0 - scores[top]

    @staticmethod
    def _hits(ids: np.ndarray, positions: np.ndarray, distances: np.ndarray) -> list[tuple[int, float]]:
        # tolist() converts in C what a comprehension over numpy scalars did one by one (17 -> 7 us
        # for 100 hits); the same ints and doubles (1.0 minus the float32 distance, in float64).
        return list(zip(ids[positions].tolist(), (1.0 - np.asarray(distances, dtype=np.float64)).tolist(), strict=True))


def _load_onnxruntime_first() -> None:
    """usearch's extension, loaded before onnxruntime's, makes onnxruntime crash (SIGSEGV in
    libstdc++'s codecvt) when it later builds a session: a server that warms a large store's HNSW
    index before the embedding model died at its first query. Loaded the other way round, both
    work (tests/store/test_vectors.py runs the crashing order in a child process)."""
    with contextlib.suppress(ImportError):  # an installation without the local embedder: nothing to protect
        import onnxruntime  # noqa: F401  loaded for its side effect on the process's C++ runtime


class HnswIndex(ExactIndex):
    """usearch HNSW for unfiltered queries over large collections; filtered queries stay exact."""

    def __init__(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        super().__init__(ids, matrix)
        _load_onnxruntime_first()
        from usearch.index import Index

        self._index = Index(
            ndim=matrix.shape[1], metric="ip", dtype="f16", connectivity=16, expansion_add=128, expansion_search=128
        )
        if len(ids):
            self._index.add(self.ids, self.matrix)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        if allowed is not None or not len(self.ids):
            return super().search(query, k, allowed)
        found = self._index.search(query.astype(np.float16), min(k, len(self.ids)))
        return [(int(key), 1.0 - float(dist)) for key, dist in zip(found.keys, found.distances, strict=True)]


def build_index(ids: np.ndarray, matrix: np.ndarray, ann_threshold: int) -> ExactIndex:
    if ann_threshold and len(ids) > ann_threshold:
        return HnswIndex(ids, matrix)
    return ExactIndex(ids, matrix)
