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
from pathlib import Path

import numpy as np

from .._sidefile import SideFile


class SharedVectors:
    def __init__(self, path: Path, model: str, dim: int, limit: int = 100_000) -> None:
        self.path, self.model, self.dim, self.limit = Path(path), model, dim, limit
        self._file = SideFile(
            path, "CREATE TABLE IF NOT EXISTS vectors(digest BLOB PRIMARY KEY, vector BLOB NOT NULL)", timeout_s=1.0
        )
        self._puts = 0

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
        try:
            conn = self._conn()
            conn.execute(
                "INSERT OR REPLACE INTO vectors(digest, vector) VALUES (?, ?)",
                (self._digest(text), np.asarray(vector, dtype=np.float32).tobytes()),
            )
            self._puts += 1
            if self._puts % 1000 == 0:  # keep the newest `limit`
                conn.execute("DELETE FROM vectors WHERE rowid <= (SELECT max(rowid) FROM vectors) - ?", (self.limit,))
        except sqlite3.Error:
            pass
