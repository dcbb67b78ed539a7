"""One batch embedded on a worker thread while the caller writes the one before and prepares the next.

Why: the model keeps both cores busy while a batch embeds, but reading, parsing and chunking
the next files ran only between batches, on one core with the other idle: 8% of a SciFact
ingest's wall time beside the model's 92% (bench/ingest.py, 1,000 documents). Overlapped, that
work fills the gaps the model's threads leave. The write of a batch (a transaction, FTS5 terms
included) kept the model waiting too, so the caller writes batch N while the worker embeds N+1.

What stays as it was: batches are written in order, one at a time, each in its own transaction,
all on the caller's thread; progress callbacks run on the caller's thread (a worker's reports are
queued and handed over while the caller waits or between its items); an error in a batch surfaces
in the caller at its next hand-over or at the end, and no later batch is written; when the caller
fails (Ctrl-C included), the batch in flight is stopped at its next slice, is not written, and the
worker has ended before the error goes on.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Generic, TypeVar

Progress = Callable[[float, str], None]
T = TypeVar("T")
R = TypeVar("R")
POLL_S = 0.1  # how often a waiting caller hands over the worker's progress


class Stopped(Exception):
    """The caller failed while this batch was in flight: it is dropped, unwritten."""


class Overlapped(Generic[T, R]):
    """`submit(batch)` hands a batch to `embed(batch, progress, stopped)` on one worker thread, once
    the previous batch's embedding has ended, and then passes that previous result to
    `write(result)` on the caller's thread; `finish()` writes the last. Use as a context manager
    so that the worker is stopped and joined on every way out."""

    def __init__(
        self,
        embed: Callable[[T, Progress | None, threading.Event], R],
        write: Callable[[R], None],
        progress: Progress | None,
    ) -> None:
        self._embed = embed
        self._write = write
        self._progress = progress
        self._reports: queue.SimpleQueue[tuple[float, str]] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._running: Future[R] | None = None

    def submit(self, batch: T) -> None:
        embedded = self._collect()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="ragwright-ingest")
        relay = self._relay if self._progress is not None else None
        self._running = self._pool.submit(self._embed, batch, relay, self._stopped)
        if embedded is not None:
            self._write(embedded[0])  # here, while the worker embeds the next

    def last(self, batch: T) -> None:
        """The last batch: embedded while the one before is written, or here when none is in flight."""
        if self._running is not None:
            self.submit(batch)
            self.finish()
        else:
            self._write(self._embed(batch, self._progress, self._stopped))

    def _relay(self, done: float, item: str) -> None:
        """The worker's progress, queued for the caller's thread (`report`)."""
        self._reports.put((done, item))

    def report(self) -> None:
        """Hands the worker's queued progress to the caller's callback (call between items)."""
        if self._progress is None:
            return
        while True:
            try:
                done, item = self._reports.get_nowait()
            except queue.Empty:
                return
            self._progress(done, item)

    def _collect(self) -> tuple[R] | None:
        """Waits for the embedding in flight (its error is raised here), handing over its progress."""
        running, self._running = self._running, None
        if running is None:
            return None
        while True:
            try:
                result = running.result(timeout=POLL_S)
                break
            except TimeoutError:
                self.report()
        self.report()
        return (result,)

    def finish(self) -> None:
        """Waits for the batch in flight and writes it."""
        embedded = self._collect()
        if embedded is not None:
            self._write(embedded[0])
        self.report()

    def __enter__(self) -> Overlapped[T, R]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None:
            self._stopped.set()
        try:
            if kind is not None and self._running is not None:
                self._running.exception()  # ended (stopped at its next slice); its own error is moot now
                self._running = None
            self.finish()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
