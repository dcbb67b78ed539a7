"""Which terms a write left unused, so the SQLite store can take them out of its vocabulary (the
store's _prune_vocab does, inside the write)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet

import numpy as np

from .bm25 import SparseBM25, decode_counts
from .sql import Row


def dead_terms(
    removed: list[bytes], index: SparseBM25 | None, added: AbstractSet[int], all_counts: Callable[[], list[Row]]
) -> np.ndarray:
    """The term ids of the removed chunks' counts that no remaining chunk uses. `index` is the
    in-memory BM25 index when it reflects the file as it was before this write (its document
    frequencies then say which terms died), else None: every remaining chunk's counts are read."""
    gone, times = np.unique(np.concatenate([decode_counts(b)[0] for b in removed]), return_counts=True)
    if index is not None:
        indptr = index.indptr
        inside = gone < len(indptr) - 1
        users = np.zeros(len(gone), np.int64)
        users[inside] = indptr[gone[inside] + 1] - indptr[gone[inside]]
        dead: np.ndarray = gone[(users <= times) & ~np.isin(gone, np.fromiter(added, np.int64, len(added)))]
        return dead
    used = used_terms(all_counts(), int(gone.max()))
    dead = gone[~used[gone]]
    return dead


def used_terms(rows: list[Row], top: int) -> np.ndarray:
    """A mask over term ids 0..top of the ids some row's counts use (a mask, not np.unique:
    sorting was two thirds of the time)."""
    used = np.zeros(top + 1, bool)
    for start in range(0, len(rows), 4096):
        part = rows[start : start + 4096]
        ids = np.concatenate(
            [np.frombuffer(blob, np.uint32, len(blob) // 6) for (blob,) in part] or [np.zeros(0, np.uint32)]
        )
        used[ids[ids <= top]] = True
    return used
