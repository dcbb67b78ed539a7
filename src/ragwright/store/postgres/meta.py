"""The meta values every search reads, in one query and kept a moment (issue 18).

A `Workspace.search` on PostgreSQL read meta four times (the embedder check, the learned stamp's
'learned' and 'generation', the keyword and dense searches' generation): four round trips of nine.
`MetaCache` reads the hot keys together and keeps them `TTL_S`; every store of one process on one
database shares it, and each of their writes that may move a hot key (`moved()`) drops it, so a
process sees its own commits at once and another process's within TTL_S, well inside the store
contract's 1 s (tests/server/test_replicas.py)."""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

HOT = ("generation", "learned", "embedder")
TTL_S = 0.25


class MetaCache:
    """The hot meta values as of at most TTL_S ago, or of this process's last write, whichever is later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._epoch = 0
        self._held: tuple[float, int, dict[str, str]] | None = None

    def moved(self) -> None:
        """A write that may have changed a hot key has committed (or failed): read them again."""
        with self._lock:
            self._epoch += 1
            self._held = None

    def values(self, db: Any) -> dict[str, str]:
        """{key: value} of the HOT keys that exist; one query when what is held is too old."""
        now = time.monotonic()
        held, epoch = self._held, self._epoch
        if held is not None and held[1] == epoch and now - held[0] < TTL_S:
            return held[2]
        # the epoch is taken before reading: a write committing meanwhile leaves it stale, not kept
        with db.read() as cur:
            cur.execute("SELECT key, value FROM meta WHERE key = ANY(%s)", (list(HOT),))
            values = {k: v for k, v in cur.fetchall()}
        with self._lock:
            if self._epoch == epoch:
                self._held = (now, epoch, values)
        return values


_shared: weakref.WeakValueDictionary[str, MetaCache] = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


def shared_cache(url: str) -> MetaCache:
    """The process's cache for the database at `url` (its stores hold it; it goes with the last)."""
    with _shared_lock:
        cache = _shared.get(url)
        if cache is None:
            cache = _shared[url] = MetaCache()
        return cache
