"""Folding the SQLite store's WAL back into its file after a deletion, even when a reader is in
the way.

A TRUNCATE checkpoint cannot finish while another connection (a second `serve --workers`
worker, a `ragwright` command, a backup) holds a read snapshot: SQLite then waits the busy
timeout and reports busy=1 without raising. The store waited its whole 30 s timeout inside the
DELETE request, and nobody tried again, so the deleted text stayed in ragwright.db-wal until
the store closed. Now the first attempt waits FIRST_WAIT_S at most; a busy one is retried in
the background, on a connection of its own, until it succeeds or the store closes. Each retry
waits RETRY_WAIT_S at most: while a TRUNCATE checkpoint waits for readers it holds new writers
up, so a reader that never lets go costs writers that long now and then, never a request's
seconds. What a reader that outlives the store still pins stays in the WAL (SECURITY.md)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

FIRST_WAIT_S = 0.5  # inside the deletion (or replacement) that asked for it
RETRY_WAIT_S = 0.05  # each background attempt
RETRY_EVERY_S = (0.1, 2.0)  # the first pause between attempts, doubling up to the second
CLOSING_WAIT_S = 5.0  # the last attempt, as the store closes


def fold(conn: sqlite3.Connection, wait_s: float, restore_ms: int | None = None) -> bool:
    """One TRUNCATE checkpoint waiting `wait_s` at most for readers and writers; True when the
    whole WAL was folded back and emptied. The connection's busy timeout is set back to
    `restore_ms` after (when given)."""
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(wait_s * 1000)}")
        try:
            row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            if restore_ms is not None:
                conn.execute(f"PRAGMA busy_timeout = {restore_ms}")
    except sqlite3.OperationalError:  # locked, or a closed database: the next attempt folds it
        return False
    return row is not None and row[0] == 0


class Checkpointer:
    """The store's checkpoints: `run` once on the store's writing connection (under its lock),
    then in the background until one succeeds."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: threading.RLock, busy_ms: int) -> None:
        self.path, self.conn, self.lock, self.busy_ms = path, conn, lock, busy_ms
        self._stop = threading.Event()
        self._wanted = threading.Event()  # a checkpoint failed: the next retry is wanted
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def pending(self) -> bool:
        return self._wanted.is_set()

    def run(self, wait_s: float = FIRST_WAIT_S) -> bool:
        with self.lock:
            done = fold(self.conn, wait_s, self.busy_ms)
        if done:
            self._wanted.clear()
        else:
            self._later()
        return done

    def _later(self) -> None:
        self._wanted.set()
        with self._start_lock:
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._retry, name="ragwright-checkpoint", daemon=True)
            self._thread.start()

    def _retry(self) -> None:
        pause = RETRY_EVERY_S[0]
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(pause):
                conn = conn or sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._wanted.clear()  # a failure from now on (here or in run) sets it again
                if not fold(conn, RETRY_WAIT_S):
                    self._wanted.set()
                with self._start_lock:  # _later sets _wanted before it looks for this thread
                    if not self._wanted.is_set():
                        self._thread = None
                        return
                pause = min(pause * 2, RETRY_EVERY_S[1])
        except sqlite3.Error:  # the file is gone: the next deletion's checkpoint starts again
            pass
        finally:
            if conn is not None:
                conn.close()
        with self._start_lock:
            self._thread = None

    def close(self) -> None:
        """Stop retrying and make a last attempt (the caller holds the store's lock and closes the
        connection after)."""
        self._stop.set()
        with self._start_lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout=2)
        with contextlib.suppress(sqlite3.Error):
            fold(self.conn, CLOSING_WAIT_S, self.busy_ms)
