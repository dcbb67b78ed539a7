"""Where a filter's allowed chunk rowids sit in an in-memory index, kept per allowed array.

The store keeps one allowed array per filter until the next write, and a server asks with the
same access filter again and again: mapping it onto the index once, not per query, saves a
searchsorted and an isin over every chunk on each search."""

from __future__ import annotations

import numpy as np


class Subsets:
    def __init__(self, ids: np.ndarray, size: int = 64) -> None:
        self.ids = ids  # ascending
        self.size = size
        self._kept: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def of(self, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions, mask): the index positions of the allowed ids, and the same as a mask."""
        hit = self._kept.get(id(allowed))
        if hit is not None and hit[0] is allowed:
            return hit[1], hit[2]
        positions = np.searchsorted(self.ids, allowed)
        positions = positions[positions < len(self.ids)]
        positions = positions[np.isin(self.ids[positions], allowed)]
        mask = np.zeros(len(self.ids), dtype=bool)
        mask[positions] = True
        if len(self._kept) >= self.size:
            self._kept.pop(next(iter(self._kept), None), None)
        self._kept[id(allowed)] = (allowed, positions, mask)  # holding `allowed` keeps its id unique
        return positions, mask
