"""SQL pieces of the SQLite store: the write transaction, document rows, and filters as SQL."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from ..errors import StoreError
from ..types import Access, DocumentRecord
from .base import Filters

Row = tuple[Any, ...]  # one row as sqlite3 returns it


class WriteFlag(Protocol):
    """The per-thread state a transaction marks (SqliteStore's threading.local)."""

    writing: bool


_FIELD = re.compile(r"^(doc_id|source|format|title|tenant|metadata\.[A-Za-z0-9_.-]+)$")


class Tx:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; a full disk becomes a StoreError."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, local: WriteFlag, on_commit: Callable[[], None] | None = None
    ) -> None:
        self.conn, self.path, self.local = conn, path, local  # local.writing: this thread reads its own writes
        self.on_commit = on_commit  # after COMMIT (the write stamp)

    def __enter__(self) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # "database is locked": another writer held it for 30 s
            raise StoreError(f"{self.path}: cannot start a write: {exc}; is another ragwright writing?") from exc
        self.local.writing = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        self.local.writing = False
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                if self.on_commit is not None:
                    self.on_commit()
                return False
            except sqlite3.DatabaseError as err:
                exc = err
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower():
            raise StoreError(
                f"{self.path}: disk full; nothing was written (rolled back): free space and run again"
            ) from exc
        if isinstance(exc, sqlite3.DatabaseError):
            raise StoreError(f"{self.path}: write failed and was rolled back: {exc}") from exc
        return False


DOC_COLUMNS = "doc_id, source, title, format, content_hash, n_chunks, metadata, size, updated_at, tenant, groups"


def doc_from_row(row: Row) -> DocumentRecord:
    doc_id, source, title, fmt, chash, n, meta, size, updated, tenant, groups = row
    return DocumentRecord(
        doc_id, source, title, fmt, chash, n, json.loads(meta), size, updated, tenant, json.loads(groups)
    )


def access_sql(access: Access) -> tuple[str, list[Any]]:
    """A reader sees its tenant's documents that have no groups or share one of its groups."""
    if not isinstance(access, Access):
        raise ValueError("the 'access' filter takes an Access(tenant, groups, admin)")
    if access.admin:
        return "(d.tenant = ?)", [access.tenant]
    marks = ",".join("?" * len(access.groups))
    shared = f" OR EXISTS (SELECT 1 FROM json_each(d.groups) g WHERE g.value IN ({marks}))" if access.groups else ""
    return f"(d.tenant = ? AND (d.groups = '[]'{shared}))", [access.tenant, *access.groups]


def filter_sql(filters: Filters | None) -> tuple[str, list[Any]]:
    """Filters -> ' AND ...' over documents d; field names are checked, values always bound."""
    if not filters:
        return "", []
    clauses: list[str] = []
    params: list[Any] = []
    for field, value in filters.items():
        if field == "access":
            clause, more = access_sql(value)
            clauses.append(clause)
            params.extend(more)
            continue
        if not _FIELD.match(field):
            raise ValueError(f"unknown filter field '{field}' (use doc_id, source, format, title or metadata.KEY)")
        values = list(value) if isinstance(value, (list, tuple, set)) else [value]
        if not values:
            clauses.append("0")
            continue
        column = f"d.{field}"
        if field.startswith("metadata."):  # 2020 in the metadata matches "2020" typed on a command line
            path = f"'$.{field[9:]}'"  # checked by _FIELD: letters, digits, _ and .
            # json_extract gives 1 for a JSON true: booleans are compared by their JSON type instead
            column = (
                f"CASE json_type(d.metadata, {path}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
                f"ELSE CAST(json_extract(d.metadata, {path}) AS TEXT) END"
            )
            values = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
        parts = []
        for v in values:
            glob = field == "source" and isinstance(v, str) and any(ch in v for ch in "*?[")
            parts.append(f"{column} GLOB ?" if glob else f"{column} = ?")
            params.append(v)
        clauses.append("(" + " OR ".join(parts) + ")")
    return " AND " + " AND ".join(clauses), params
