"""In-memory dense index over the store's vectors. Exact search scans a float16 copy of the
matrix with SIMD kernels (numkong, usearch's own): half the memory of float32 and the same top 100 (at 100k x
384 on 2 cores: 7.8 ms against numpy float32's 8.2 ms idle, 7 against 16 ms on a busy machine). From
INT8_FROM vectors, an int8 copy is scanned first and only the rows it cannot rule out are scored in
float16 (`_Int8Rows`): the same top k, in half the scan's memory traffic. An HNSW index (usearch) takes
over above `ann_threshold`. Either is derived data, rebuilt from SQLite when stale."""

from __future__ import annotations

import contextlib
import os

import numpy as np

from .subsets import Subsets, top_k

INT8_FROM = 16_384  # below, the float16 scan is a fraction of a millisecond: a first pass would not pay


class ExactIndex:
    def __init__(self, ids: np.ndarray, matrix: np.ndarray) -> None:
        self.ids = ids.astype(np.int64, copy=False)  # ascending, as the store loads them
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float16)
        # One thread per search below a few million values: the server runs searches side by side,
        # and spreading a 10k-vector scan over threads costs more (3.8 ms) than it saves (1.0 ms).
        self._threads = 1 if self.matrix.size < 20_000_000 else (os.cpu_count() or 1)
        self._subsets = Subsets(self.ids)
        self._int8 = _Int8Rows.of(self.matrix) if len(self.matrix) >= INT8_FROM else None

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
        query16, rows = query.astype(np.float16), None
        if self._int8 is not None and matrix is self.matrix and k < len(matrix) // 4 and np.isfinite(query16).all():
            rows = self._int8.candidates(query16, k, self._threads)  # a superset of the top k
            matrix = matrix[rows]
        scores = _dots(query16, matrix, self._threads)
        top = top_k(scores, k)
        top = top[np.argsort(-scores[top], kind="stable")]
        return (top if rows is None else rows[top]).astype(np.int64), 1.0 - scores[top]

    @staticmethod
    def _hits(ids: np.ndarray, positions: np.ndarray, distances: np.ndarray) -> list[tuple[int, float]]:
        # tolist() converts in C what a comprehension over numpy scalars did one by one (17 -> 7 us
        # for 100 hits); the same ints and doubles (1.0 minus the float32 distance, in float64).
        return list(zip(ids[positions].tolist(), (1.0 - np.asarray(distances, dtype=np.float64)).tolist(), strict=True))


def _dots(query: np.ndarray, matrix: np.ndarray, threads: int) -> np.ndarray:
    """Each row's inner product with the query (both float16, or both int8: exact int sums)."""
    import numkong

    scores: np.ndarray = np.asarray(numkong.cdist(query[None], matrix, metric="dot", threads=threads))[0]
    return scores.astype(np.float32, copy=False)


class _Int8Rows:
    """An int8 copy of the float16 rows (one scale for the matrix) and, per row, the length of
    what rounding took off (`err`) and of the row itself. For a query q, its int8 form q8 and
    remainder rho, a row's float16 score differs from the int8 one by at most
    |q8| * err + |rho| * |row| (Cauchy-Schwarz on each part), so every row whose int8 score plus
    that bound reaches the k-th best int8 score minus its bound may be in the top k, and no
    other: only those are scored in float16. 100k SciFact-like rows, 300 queries: about 300
    rows scored (p95 593), the same top 100 as the float16 scan in 300 of 300, 1.9 against
    3.4 ms."""

    def __init__(self, rows: np.ndarray, scale: float, err: np.ndarray, norms: np.ndarray) -> None:
        self.rows, self.scale, self.err, self.norms = rows, scale, err, norms

    @classmethod
    def of(cls, matrix: np.ndarray, block: int = 65_536) -> _Int8Rows | None:
        peak = float(np.abs(matrix).max()) if matrix.size else 0.0
        if not peak or not np.isfinite(peak):
            return None
        scale = 127.0 / peak
        rows = np.empty(matrix.shape, dtype=np.int8)
        err = np.empty(len(matrix), dtype=np.float32)
        norms = np.empty(len(matrix), dtype=np.float32)
        for start in range(0, len(matrix), block):  # in blocks: no float32 copy of the whole matrix
            part = matrix[start : start + block].astype(np.float32)
            rounded = np.rint(part * scale)
            rows[start : start + block] = rounded
            err[start : start + block] = np.linalg.norm(part - rounded / scale, axis=1)
            norms[start : start + block] = np.linalg.norm(part, axis=1)
        return cls(rows, scale, err, norms)

    def candidates(self, query16: np.ndarray, k: int, threads: int) -> np.ndarray:
        """Positions of the rows that may be among the k best by float16 score, ascending."""
        q = query16.astype(np.float32)
        q_scale = 127.0 / max(float(np.abs(q).max()), 1e-12)
        q8 = np.rint(q * q_scale).astype(np.int8)
        dequantised = q8.astype(np.float32) / q_scale
        approx = _dots(q8, self.rows, threads)
        approx *= np.float32(1.0 / (q_scale * self.scale))
        # + 1e-4: the float32 sums of both scans round; their error is far below it
        bound = float(np.linalg.norm(dequantised)) * self.err + float(np.linalg.norm(q - dequantised)) * self.norms
        bound += np.float32(1e-4)
        lower = approx - bound
        kth = float(lower[top_k(lower, k)].min())
        return np.flatnonzero(approx + bound >= kth)


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
