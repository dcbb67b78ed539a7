"""Query vectors shared by the worker processes of one server, in a small SQLite file of their own.

Each worker remembers the queries it embedded, but a repeated query reaches any worker: with two
workers, each repeated query was embedded twice (15 ms of CPU each), and the first repeats of a
busy period ran the model in every worker. A look-up here costs about 50 us. The file holds
digests of the queries, never their text, and vectors; it is derived data, bounded to the most
recent `limit` queries, and `ragwright serve` deletes it when it starts, so it lasts one server
run (vectors can be partly inverted). Any SQLite trouble only means a miss."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from .._sidefile import SideFile

MAX_QUEUED = 10_000
GATHER_S = 0.02


class SharedVectors:
    def __init__(self, path: Path, model: str, dim: int, limit: int = 100_000) -> None:
        self.path, self.model, self.dim, self.limit = Path(path), model, dim, limit
        self._file = SideFile(
            path, "CREATE TABLE IF NOT EXISTS vectors(digest BLOB PRIMARY KEY, vector BLOB NOT NULL)", timeout_s=1.0
        )
        self._puts = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._queued: list[tuple[bytes, bytes]] = []
        self._writing = False
        self._writer: threading.Thread | None = None

    def _conn(self) -> sqlite3.Connection:
        return self._file.conn()

    def _digest(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.model}\0{text}".encode()).digest()

    def get(self, text: str) -> np.ndarray | None:
        try:
            row = self._conn().execute("SELECT vector FROM vectors WHERE digest = ?", (self._digest(text),)).fetchone()
        except sqlite3.Error:
            return None
        if row is None or len(row[0]) != 4 * self.dim:
            return None
        vector = np.frombuffer(row[0], dtype=np.float32)
        vector.setflags(write=False)
        return vector

    def put(self, text: str, vector: np.ndarray) -> None:
        """Queued for the writer thread, which writes what has gathered in one transaction: a write
        per new query on the request's thread cost 2.5% of a worker's time under new-query load,
        and a collision with the other worker's write slept in SQLite's busy handler on the
        request's path. Another worker finds the vector a few milliseconds later (a miss before
        that only runs the model)."""
        item = (self._digest(text), np.asarray(vector, dtype=np.float32).tobytes())
        with self._lock:
            if len(self._queued) < MAX_QUEUED:  # a stuck writer drops vectors, never grows memory
                self._queued.append(item)
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_loop, name="ragwright-shared-vectors", daemon=True)
                self._writer.start()
        if not self._wake.is_set():  # a set() per put woke the writer per query: 4% of a worker's samples
            self._wake.set()

    def flush(self, timeout_s: float = 5.0) -> None:
        """Waits until every queued vector is written (tests, and the end of a server run)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._queued and not self._writing:
                    return
            self._wake.set()
            time.sleep(0.002)

    def _write_loop(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(GATHER_S)  # let the puts of a burst gather into one transaction
            self._wake.clear()
            with self._lock:
                batch, self._queued = self._queued, []
                self._writing = bool(batch)
            try:
                if batch:
                    self._write(batch)
            finally:
                with self._lock:
                    self._writing = False

    def _write(self, batch: list[tuple[bytes, bytes]]) -> None:
        try:
            conn = self._conn()
            with conn:  # one transaction for the batch
                conn.execute("BEGIN")
                conn.executemany("INSERT OR REPLACE INTO vectors(digest, vector) VALUES (?, ?)", batch)
            before, self._puts = self._puts, self._puts + len(batch)
            if before // 1000 != self._puts // 1000:  # keep the newest `limit`
                conn.execute("DELETE FROM vectors WHERE rowid <= (SELECT max(rowid) FROM vectors) - ?", (self.limit,))
        except sqlite3.Error:
            pass
