"""The SQLite store's statement timeout: a read on a reader connection is interrupted after
[store] statement_timeout_s, as PostgreSQL's is cancelled. Review 15b (finding 2): a `source`
glob costs what the tenant holds (documents x source length) and SQLite had no bound, so one
search could run for as long as the tenant made it. Writes and the whole-index reads that rebuild
the in-memory indexes run on the writing connection, which has no handler: they are never cut."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreUnavailable
from .timeouts import checked_timeout, timed_out

PROGRESS_STEPS = 10_000  # SQLite virtual-machine steps between looks at the clock (~0.1 ms of work)
RETRY_AFTER_S = 1.0


class ReadDeadline:
    """Per thread: the deadline of the read it is making on its own reader connection."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        self.path, self.timeout_s = path, checked_timeout(timeout_s)
        self._local = threading.local()

    def install(self, reader: sqlite3.Connection) -> None:
        reader.set_progress_handler(self._past, PROGRESS_STEPS)

    @contextmanager
    def bounded(self) -> Iterator[None]:
        """A read within the timeout (0: none); past it, StoreUnavailable (a 503) naming the setting."""
        if self.timeout_s <= 0:
            yield
            return
        self._local.deadline = time.monotonic() + self.timeout_s
        try:
            yield
        except sqlite3.OperationalError as exc:
            if not getattr(self._local, "interrupted", False):
                raise
            raise StoreUnavailable(f"{self.path}: {timed_out(self.timeout_s)}", retry_after_s=RETRY_AFTER_S) from exc
        finally:
            self._local.deadline = math.inf
            self._local.interrupted = False

    def _past(self) -> int:
        """SQLite's progress handler: non-zero interrupts the running statement. It fires once; the
        deadline is then lifted so that the read's own COMMIT (fetch_chunks' snapshot) still runs."""
        if time.monotonic() <= getattr(self._local, "deadline", math.inf):
            return 0
        self._local.deadline = math.inf
        self._local.interrupted = True
        return 1
