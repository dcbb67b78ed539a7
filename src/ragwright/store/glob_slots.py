"""A few slots per process for reads that match `source` patterns. Such a read costs what the
reader's tenant holds (documents x source length, store/globs.py bounds only the pattern):
review 15b (finding 2) ran 44 at once over 600 documents and another tenant's listing went from
13 ms to 16.3 s, the searches holding the server's shared thread pool and both cores. Past the
slots a read waits briefly, then is refused: StoreUnavailable, a 503 "busy" with Retry-After.
One tenant holds at most GLOB_SLOTS_PER_TENANT of them (review 15 noticed one key could hold all)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..errors import StoreUnavailable
from .globs import is_glob

GLOB_SLOTS = 3  # glob-filtered reads at once per process (the machine's cores, plus one)
GLOB_SLOTS_PER_TENANT = 2  # of them one tenant may hold: one tenant never holds them all (two can)
GLOB_WAIT_S = 0.25  # a worker thread waits this long for a slot: waiting holds the thread
_free = threading.Condition()
_held: dict[str, int] = {}  # slots held, by tenant ("" for reads made for none)


def holds_glob(filters: Mapping[str, Any] | None) -> bool:
    """Whether `filters` match `source` with a pattern (a plain list, or ShownSource's values)."""
    source = (filters or {}).get("source")
    values = getattr(source, "values", source)
    return any(map(is_glob, values if isinstance(values, (list, tuple, set)) else [values]))


def _tenant(filters: Mapping[str, Any]) -> str:
    """The tenant a read is made for: its access filter's, else a tenant filter's (retrieve's
    tenant_of, which this layer may not import)."""
    tenant = getattr(filters.get("access"), "tenant", None) or filters.get("tenant")
    return tenant if isinstance(tenant, str) else ""


def _acquire(tenant: str, wait_s: float = GLOB_WAIT_S) -> None:
    """Take a slot for `tenant` within `wait_s`, or say which bound refused it."""
    deadline = time.monotonic() + wait_s
    with _free:
        while sum(_held.values()) >= GLOB_SLOTS or _held.get(tenant, 0) >= GLOB_SLOTS_PER_TENANT:
            left = deadline - time.monotonic()
            if left <= 0 or not _free.wait(left):
                mine = _held.get(tenant, 0) >= GLOB_SLOTS_PER_TENANT
                running = f"{GLOB_SLOTS_PER_TENANT} for this tenant" if mine else str(GLOB_SLOTS)
                raise StoreUnavailable(
                    f"busy: {running} searches filtered by a `source` pattern are running in this process; "
                    "try again, or filter by exact sources",
                    retry_after_s=1.0,
                )
        _held[tenant] = _held.get(tenant, 0) + 1


def _release(tenant: str) -> None:
    with _free:
        _held[tenant] -= 1
        if not _held[tenant]:
            del _held[tenant]
        _free.notify_all()


@contextmanager
def glob_slot(filters: Mapping[str, Any] | None) -> Iterator[None]:
    """One of GLOB_SLOTS (at most GLOB_SLOTS_PER_TENANT of them a tenant's) while a read with
    `filters` runs, when they hold a pattern."""
    if not filters or not holds_glob(filters):
        yield
        return
    tenant = _tenant(filters)
    _acquire(tenant)
    try:
        yield
    finally:
        _release(tenant)
