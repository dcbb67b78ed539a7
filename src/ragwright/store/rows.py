"""Rows of the tables beside the documents, read and written as they are, for `ragwright store
copy` (store/copy.py). Documents, chunks and vectors go through the store API instead, so that the
target builds its own keyword statistics; what is here has no API that keeps it whole (an API key
is read back without its hash, feedback and audit rows without their times, learned versions
without their numbers), and both backends keep these tables with the same columns
(store/postgres/schema.py, migration 2, mirrors store/schema.py 2-10).

Writes insert only rows whose key is not there yet (INSERT OR IGNORE, ON CONFLICT DO NOTHING), one
batch per transaction, so a copy interrupted anywhere is finished by running it again."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .factory import scheme_of, sqlite_path

Row = tuple[Any, ...]


def _cols(names: str) -> tuple[str, ...]:
    return tuple(names.split())


@dataclass(frozen=True)
class Table:
    """A table copied row by row: its columns (those both backends have, in this order), and the
    key that makes a second insert of a row a no-op. `order`: how rows are read, so that lists
    ordered "as saved" stay so (SQLite: rowid; PostgreSQL: the column named, else the key)."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    pg_order: str = ""
    sqlite_order: str = "rowid"  # the key for tables WITHOUT ROWID
    booleans: tuple[str, ...] = field(default=())  # integers in SQLite, booleans in PostgreSQL


TABLES: list[Table] = [
    Table(
        "api_keys",
        ("key_id", "key_hash", "tenant", "scopes", "groups", "name", "rate_per_min", "created_at", "revoked_at"),
        ("key_id",),
    ),
    # jobs without their lease (owner, lease_until): a copied unfinished job is claimable at once
    Table(
        "jobs",
        _cols("job_id kind status tenant key_id payload total done result error created_at updated_at"),
        ("job_id",),
        "created_at, job_id",
    ),
    Table(
        "audit_log",
        _cols("id at key_id tenant method endpoint status doc_ids latency_ms route client count"),
        ("id",),
        "id",
    ),
    Table(
        "traces",
        _cols("trace_id started_at name key_id tenant duration_ms status cost_usd input_tokens output_tokens data"),
        ("trace_id",),
        "started_at, trace_id",
    ),
    Table("trace_docs", ("trace_id", "doc_id"), ("trace_id", "doc_id"), sqlite_order=""),
    Table(
        "feedback",
        _cols("feedback_id trace_id created_at key_id tenant query rating rating_scale correction marks cited"),
        ("feedback_id",),
        "created_at, feedback_id",
    ),
    Table(
        "eval_runs",
        _cols("run_id created_at kind dataset split pipeline dataset_hash code_version config")
        + _cols("metrics per_query seconds coverage cases tenant"),
        ("run_id",),
        "seq",
    ),
    # the budget ledger: budgets count recorded calls, so a moved workspace keeps what it spent
    Table(
        "model_calls",
        _cols("call_id started_at route model key_id tenant input_tokens output_tokens")
        + _cols("cost_usd cached latency_ms error record"),
        ("call_id",),
        "started_at, call_id",
    ),
    # caches: judge verdicts are kept for good so that a re-run evaluation repeats its scores
    Table(
        "cache_entries",
        ("namespace", "key", "value", "created_at", "expires_at"),
        ("namespace", "key"),
        sqlite_order="",
    ),
    Table("cache_sources", ("namespace", "key", "doc_id"), ("namespace", "key", "doc_id"), sqlite_order=""),
]
LEARNED = Table(
    "learned",
    ("version", "kind", "created_at", "active", "previous", "report", "blob"),
    ("version",),
    "version",
    booleans=("active",),
)
LEARNED_MARKS = Table("learned_marks", ("version", "example", "doc_id", "chunk_id", "weight"), (), "example")
BATCH = 500  # rows per transaction


class Rows(Protocol):
    """Raw access to one store's database."""

    def read(self, table: Table, where: str = "", params: Sequence[Any] = ()) -> Iterator[Row]: ...

    def count(self, table: str) -> int: ...

    def insert(self, table: Table, rows: Sequence[Row]) -> None:
        """Insert the rows whose key is not stored yet, in one transaction."""

    def insert_learned(self, version: Row, marks: Sequence[Row]) -> bool:
        """A learned version and its marks in one transaction; False (nothing written) when the
        version is stored already."""

    def close(self) -> None: ...


def open_rows(url: str) -> Rows:
    """Raw access to the database the store URL names (a SQLite file or PostgreSQL)."""
    if scheme_of(url) == "sqlite":
        return SqliteRows(str(sqlite_path(url)))
    return PgRows(url)


class SqliteRows:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)

    def read(self, table: Table, where: str = "", params: Sequence[Any] = ()) -> Iterator[Row]:
        order = table.sqlite_order or ", ".join(table.key)
        sql = f"SELECT {', '.join(table.columns)} FROM {table.name} {where} ORDER BY {order}"
        yield from self.conn.execute(sql.replace("%s", "?"), params)

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def insert(self, table: Table, rows: Sequence[Row]) -> None:
        marks = ", ".join("?" * len(table.columns))
        sql = f"INSERT OR IGNORE INTO {table.name} ({', '.join(table.columns)}) VALUES ({marks})"
        with self._transaction():
            self.conn.executemany(sql, [_ints(table, r) for r in rows])

    def insert_learned(self, version: Row, marks: Sequence[Row]) -> bool:
        with self._transaction():
            cols = ", ".join(LEARNED.columns)
            cur = self.conn.execute(
                f"INSERT OR IGNORE INTO learned ({cols}) VALUES ({', '.join('?' * len(LEARNED.columns))})",
                _ints(LEARNED, version),
            )
            if cur.rowcount != 1:
                return False
            self.conn.executemany(
                f"INSERT INTO learned_marks ({', '.join(LEARNED_MARKS.columns)}) VALUES (?, ?, ?, ?, ?)", marks
            )
            return True

    def _transaction(self) -> Any:
        conn = self.conn

        class _Tx:
            def __enter__(self) -> None:
                conn.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind: Any, *_: Any) -> None:
                conn.execute("COMMIT" if kind is None else "ROLLBACK")

        return _Tx()

    def close(self) -> None:
        self.conn.close()


class PgRows:
    def __init__(self, url: str) -> None:
        from .postgres.connection import Database

        self.db = Database(url)
        self.conn = self.db.connect(autocommit=True)

    def read(self, table: Table, where: str = "", params: Sequence[Any] = ()) -> Iterator[Row]:
        order = table.pg_order or ", ".join(table.key) or "1"
        sql = f"SELECT {', '.join(table.columns)} FROM {table.name} {where} ORDER BY {order}"
        yield from self.conn.execute(sql, params)

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def insert(self, table: Table, rows: Sequence[Row]) -> None:
        marks = ", ".join(["%s"] * len(table.columns))
        sql = f"INSERT INTO {table.name} ({', '.join(table.columns)}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(sql, [_bools(table, r) for r in rows])
            if table.name == "audit_log":  # ids were given: the sequence must pass them for new rows
                cur.execute(
                    "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), max(id)) FROM audit_log "
                    "HAVING max(id) IS NOT NULL"
                )

    def insert_learned(self, version: Row, marks: Sequence[Row]) -> bool:
        cols = ", ".join(LEARNED.columns)
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO learned ({cols}) VALUES ({', '.join(['%s'] * len(LEARNED.columns))}) "
                "ON CONFLICT DO NOTHING RETURNING version",
                _bools(LEARNED, version),
            )
            if cur.fetchone() is None:
                return False
            cur.executemany(
                f"INSERT INTO learned_marks ({', '.join(LEARNED_MARKS.columns)}) VALUES (%s, %s, %s, %s, %s)", marks
            )
            return True

    def close(self) -> None:
        self.conn.close()


def _bools(table: Table, row: Row) -> Row:
    if not table.booleans:
        return row
    return tuple(
        bool(v) if c in table.booleans and v is not None else v for c, v in zip(table.columns, row, strict=True)
    )


def _ints(table: Table, row: Row) -> Row:
    if not table.booleans:
        return row
    return tuple(
        int(v) if c in table.booleans and v is not None else v for c, v in zip(table.columns, row, strict=True)
    )
