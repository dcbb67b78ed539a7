"""Search results kept for one write generation (issue 18: replicas on one database).

A repeated search on PostgreSQL ran its vector query and keyword catch-up in the database every
time: about 4 ms of database CPU a search, which held two replicas to about 215 requests a second
where one SQLite server does 770. A search's result depends only on the query, k, the filters
(the reader's access filter among them) and the stored data, and the data changes only with the
write generation: so results are kept per generation and every one of them is dropped as soon as
the store sees a newer generation (its own writes at once, another process's within the meta
cache's 0.25 s: meta.py). Kept results are ids and scores, never chunk text, so a deleted
document's words are not held here; its ids go with the generation its deletion made."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..contract import Filters

Hits = list[tuple[str, float]]
MAX_ENTRIES = 4096


def vector_key(vector: np.ndarray, k: int, filters: Filters | None) -> tuple[Any, ...]:
    data = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
    return ("dense", hashlib.blake2b(data, digest_size=16).digest(), k, _filters_key(filters))


def keyword_key(query: str, k: int, filters: Filters | None) -> tuple[Any, ...]:
    return ("bm25", query, k, _filters_key(filters))


def _filters_key(filters: Filters | None) -> str:
    return json.dumps(dict(filters or {}), sort_keys=True, default=repr)


class ResultCache:
    """The results of one generation, at most MAX_ENTRIES (least recently used go first)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._entries: OrderedDict[tuple[Any, ...], Hits] = OrderedDict()
        self._max = max_entries

    def get(self, generation: int, key: tuple[Any, ...], search: Callable[[], Hits]) -> Hits:
        with self._lock:
            if generation != self._generation:
                self._entries.clear()  # nothing of an older generation is served or kept
                self._generation = generation
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return list(hit)
        found = search()
        with self._lock:
            if generation == self._generation:
                self._entries[key] = list(found)
                while len(self._entries) > self._max:
                    self._entries.popitem(last=False)
        return found
