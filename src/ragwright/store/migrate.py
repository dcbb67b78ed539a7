"""`ragwright store migrate`: bring a store's schema to this code's version, saying from which.

Both backends migrate when a store is opened (each version in its own transaction, a schema newer
than the code refused with both versions named); this reads the version first, so that a person
moving a database over sees what changed."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .factory import location, open_store, scheme_of, sqlite_path


@dataclass(frozen=True)
class Migration:
    where: str  # the SQLite file, or the URL with its password masked
    backend: str  # "sqlite" or "postgresql"
    found: int  # the schema version before (0: a new store)
    now: int  # the version after: this code's

    @property
    def changed(self) -> bool:
        return self.found != self.now


def migrate_store(url: str, default_path: Path) -> Migration:
    """Migrate the store at `url` (empty: the SQLite file `default_path`). A StoreError (naming both
    versions) when its schema is newer than this code's, and nothing is changed."""
    url = url.strip()
    if not url or scheme_of(url) == "sqlite":
        from .schema import LATEST

        path = sqlite_path(url) if url else default_path
        found = _sqlite_version(path)
        backend, latest = "sqlite", LATEST
    else:
        from .postgres.connection import Database
        from .postgres.schema import LATEST as PG_LATEST
        from .postgres.schema import schema_version

        conn = Database(url).connect(autocommit=True)
        try:
            found = schema_version(conn)
        finally:
            conn.close()
        backend, latest = "postgresql", PG_LATEST
    open_store(url, default_path=default_path).close()  # migrates, or refuses a newer schema
    return Migration(location(url, default_path), backend, found, latest)


def _sqlite_version(path: Path) -> int:
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
