"""The SQLite store's file: made private before SQLite first opens it, and switched to WAL."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from pathlib import Path


def create_private(path: Path) -> None:
    """A new store holds a tenant's documents: its folder is made 0700 and its file 0600 before
    SQLite opens it (SQLite gives -wal and -shm the file's mode), whoever creates it, CLI or server."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))  # an empty file is an empty database


def wal(conn: sqlite3.Connection, attempts: int = 50) -> None:
    """Switch to WAL. Switching needs the file to itself and SQLite does not wait for that (no
    busy handler): processes creating the store at once retry here for a moment."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
