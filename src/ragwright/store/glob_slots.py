"""A few slots per process for reads that match `source` patterns. Such a read costs what the
reader's tenant holds (documents x source length, store/globs.py bounds only the pattern):
review 15b (finding 2) ran 44 at once over 600 documents and another tenant's listing went from
13 ms to 16.3 s, the searches holding the server's shared thread pool and both cores. Past the
slots a read waits briefly, then is refused: StoreUnavailable, a 503 "busy" with Retry-After."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..errors import StoreUnavailable
from .globs import is_glob

GLOB_SLOTS = 3  # glob-filtered reads at once per process (the machine's cores, plus one)
GLOB_WAIT_S = 0.25  # a worker thread waits this long for a slot: waiting holds the thread
_slots = threading.BoundedSemaphore(GLOB_SLOTS)


def holds_glob(filters: Mapping[str, Any] | None) -> bool:
    """Whether `filters` match `source` with a pattern (a plain list, or ShownSource's values)."""
    source = (filters or {}).get("source")
    values = getattr(source, "values", source)
    return any(map(is_glob, values if isinstance(values, (list, tuple, set)) else [values]))


@contextmanager
def glob_slot(filters: Mapping[str, Any] | None) -> Iterator[None]:
    """One of GLOB_SLOTS while a read with `filters` runs, when they hold a pattern."""
    if not holds_glob(filters):
        yield
        return
    if not _slots.acquire(timeout=GLOB_WAIT_S):
        raise StoreUnavailable(
            f"busy: {GLOB_SLOTS} searches filtered by a `source` pattern are running in this process; "
            "try again, or filter by exact sources",
            retry_after_s=1.0,
        )
    try:
        yield
    finally:
        _slots.release()
