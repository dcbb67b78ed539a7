"""A small SQLite file of derived state shared by a server's worker processes (rate limits, query
vectors): one connection per thread, WAL, no fsync (losing it loses nothing that matters)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path


class SideFile:
    def __init__(self, path: Path, schema: str, timeout_s: float = 10.0) -> None:
        self.path, self.schema, self.timeout_s = Path(path), schema, timeout_s
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        """This thread's connection, made (with the schema) on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=self.timeout_s)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute(self.schema)
            self._local.conn = conn
        return conn
