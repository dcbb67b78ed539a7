"""Training the query adapter in numpy (no torch): q' = normalize(q + W q), W starting at zero,
fitted with a contrastive loss. For each feedback query the chunks marked relevant are the
positives; every other chunk of the pool is a negative (the pool is the whole collection when
it is small enough, else the marked chunks, each query's nearest chunks and a random sample),
except the unmarked chunks of a relevant document, which may be relevant too and are left out.

    loss = -log( sum_pos exp(q'.d / tau) / sum_pool exp(q'.d / tau) ) + l2/2 |W|^2

Adam, mini-batches of queries. The documents' vectors never change, so nothing is re-indexed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

POOL_ALL = 60_000  # chunks: above this, train against a pool rather than the whole collection


@dataclass
class AdapterTrainer:
    queries: np.ndarray  # (n, d) unit query embeddings
    positives: Sequence[np.ndarray]  # per query: indices into `pool` of its relevant chunks
    masked: Sequence[np.ndarray]  # per query: indices into `pool` that are neither (may be relevant)
    pool: np.ndarray  # (m, d) chunk vectors
    lr: float = 1e-3
    l2: float = 1e-2
    tau: float = 0.05
    batch: int = 64
    seed: int = 0
    W: np.ndarray = field(init=False)
    epochs: int = field(init=False, default=0)
    losses: list[float] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        d = self.queries.shape[1]
        self.W = np.zeros((d, d), np.float32)
        self._m = np.zeros_like(self.W)
        self._v = np.zeros_like(self.W)
        self._t = 0
        self._rng = np.random.default_rng(self.seed)
        self.queries = np.asarray(self.queries, dtype=np.float32)
        self.pool = np.asarray(self.pool, dtype=np.float32)

    def run(self, epochs: int) -> list[float]:
        """Train `epochs` more passes over the queries; returns the mean loss of every pass so far."""
        for _ in range(epochs):
            order = self._rng.permutation(len(self.queries))
            total = sum(self._step(order[s : s + self.batch]) for s in range(0, len(order), self.batch))
            self.epochs += 1
            self.losses.append(total / max(len(order), 1))
            if not np.isfinite(self.losses[-1]):
                raise FloatingPointError(f"adapter training diverged at epoch {self.epochs}")
        return self.losses

    def _step(self, batch: np.ndarray) -> float:
        q = self.queries[batch]
        u = q + q @ self.W.T
        norm = np.linalg.norm(u, axis=1, keepdims=True)
        qa = u / norm
        logits = (qa @ self.pool.T) / self.tau
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        y = np.zeros_like(e)
        for r, i in enumerate(batch):
            y[r, self.positives[i]] = 1.0
            if len(self.masked[i]):
                e[r, self.masked[i]] = 0.0
        z = e.sum(axis=1, keepdims=True)
        zp = (e * y).sum(axis=1, keepdims=True)
        loss = float(-(np.log(np.maximum(zp, 1e-30)) - np.log(z)).sum())
        grad_logits = e / z - (e * y) / np.maximum(zp, 1e-30)
        grad_qa = (grad_logits @ self.pool) / self.tau
        grad_u = (grad_qa - qa * (grad_qa * qa).sum(axis=1, keepdims=True)) / norm
        grad_w = grad_u.T @ q / len(batch) + self.l2 * self.W
        self._t += 1
        self._m = 0.9 * self._m + 0.1 * grad_w
        self._v = 0.999 * self._v + 0.001 * grad_w * grad_w
        m_hat = self._m / (1 - 0.9**self._t)
        v_hat = self._v / (1 - 0.999**self._t)
        self.W -= (self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)).astype(np.float32)
        return loss


def training_pool(
    matrix: np.ndarray,
    queries: np.ndarray,
    marked: Sequence[Sequence[int]],
    seed: int = 0,
    nearest: int = 100,
    sample: int = 20_000,
) -> np.ndarray:
    """Indices of the chunks to contrast against: all of them for a collection up to POOL_ALL,
    else every marked chunk, each query's `nearest` chunks and a random `sample`."""
    n = len(matrix)
    if n <= POOL_ALL:
        return np.arange(n)
    keep = {int(i) for ids in marked for i in ids}
    for start in range(0, len(queries), 256):
        sims = queries[start : start + 256] @ matrix.T
        keep.update(np.argpartition(-sims, nearest, axis=1)[:, :nearest].ravel().tolist())
    keep.update(np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False).tolist())
    return np.array(sorted(keep), dtype=np.int64)
