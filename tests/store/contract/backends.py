"""The backends the store contract suite runs on, each with what a test needs to look behind the
API: the term vocabulary, every row of every table as text (for true deletion), and a way to
mark its schema as written by a newer ragwright. A backend opens any number of stores on one
database (one per process, in the real world)."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ragwright.store.base import DocumentWrite, text_hash
from ragwright.types import Chunk, DocumentRecord


class _Opened:
    """Stores a backend opened, closed once each at the end (or earlier, by the test)."""

    opened: list[Any]

    def close_store(self, store: Any) -> None:
        self.opened.remove(store)
        store.close()


class SqliteBackend(_Opened):
    name = "sqlite"

    def __init__(self, folder: Path) -> None:
        self.path = folder / "store.db"
        self.opened: list[Any] = []

    @property
    def url(self) -> str:
        """The store's URL, as another process would be given it."""
        return f"sqlite://{self.path}"

    def open(self, **options: Any) -> Any:
        from ragwright.store.sqlite import SqliteStore

        store = SqliteStore(self.path, **options)
        self.opened.append(store)
        return store

    def _query(self, sql: str) -> list[tuple]:
        conn = sqlite3.connect(self.path)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def terms(self) -> set[str]:
        return {r[0] for r in self._query("SELECT term FROM terms")}

    def all_rows_text(self, skip: tuple[str, ...] = ()) -> str:
        """Every row of every table (but those in `skip`), as text."""
        tables = [r[0] for r in self._query("SELECT name FROM sqlite_master WHERE type = 'table'") if r[0] not in skip]
        return "\n".join(repr(row) for t in tables for row in self._query(f'SELECT * FROM "{t}"'))

    def mark_newer_schema(self) -> int:
        from ragwright.store.schema import LATEST

        conn = sqlite3.connect(self.path)
        conn.execute(f"PRAGMA user_version = {LATEST + 1}")
        conn.close()
        return LATEST + 1

    def close(self) -> None:
        for store in self.opened:
            store.close()


class PostgresBackend(_Opened):
    """A fresh database per test, made from a template that has pgvector enabled."""

    name = "postgres"
    TEMPLATE = "ragwright_contract_template"

    def __init__(self, server_url: str) -> None:
        import psycopg

        self.psycopg = psycopg
        self.server_url = server_url
        self.database = f"contract_{uuid.uuid4().hex[:12]}"
        self.url = server_url.rsplit("/", 1)[0] + "/" + self.database
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}" TEMPLATE {self.TEMPLATE}')
        self.opened: list[Any] = []

    @classmethod
    def make_template(cls, server_url: str) -> None:
        import psycopg

        with psycopg.connect(server_url, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (cls.TEMPLATE,)).fetchone():
                return
            conn.execute(f"CREATE DATABASE {cls.TEMPLATE}")
        with psycopg.connect(server_url.rsplit("/", 1)[0] + "/" + cls.TEMPLATE, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION vector")

    def open(self, **options: Any) -> Any:
        from ragwright.store.postgres import PostgresStore

        store = PostgresStore(self.url, **options)
        self.opened.append(store)
        return store

    def _query(self, sql: str, params: Any = ()) -> list[tuple]:
        with self.psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def terms(self) -> set[str]:
        return {r[0] for r in self._query("SELECT term FROM terms")}

    def all_rows_text(self, skip: tuple[str, ...] = ()) -> str:
        """Every row of every table (but those in `skip`), as text."""
        tables = [
            r[0] for r in self._query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'") if r[0] not in skip
        ]
        return "\n".join(r[0] for t in tables for r in self._query(f'SELECT t::text FROM "{t}" t'))

    def mark_newer_schema(self) -> int:
        from ragwright.store.postgres.schema import LATEST

        self._query("INSERT INTO schema_version(version) VALUES (%s) RETURNING version", (LATEST + 1,))
        return LATEST + 1

    def close(self) -> None:
        for store in self.opened:
            store.close()
        with self.psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def document(
    doc_id: str,
    texts: list[str],
    *,
    tenant: str = "default",
    groups: tuple[str, ...] = (),
    metadata: dict[str, Any] | None = None,
    vectors: np.ndarray | None = None,
    dim: int = 8,
    source: str | None = None,
    title: str | None = None,
) -> DocumentWrite:
    """A DocumentWrite with one chunk per text; vectors seeded by the doc id unless given."""
    record = DocumentRecord(
        doc_id,
        source or f"/docs/{doc_id}.md",
        doc_id if title is None else title,
        "md",
        text_hash("\n".join(texts)),
        len(texts),
        dict(metadata or {}),
        sum(map(len, texts)),
        tenant=tenant,
        groups=list(groups),
    )
    chunks = [Chunk(f"{doc_id}#{i}", doc_id, i, t) for i, t in enumerate(texts)]
    if vectors is None:
        seed = int.from_bytes(doc_id.encode()[:8].ljust(8, b"\0"), "little")
        vectors = np.random.default_rng(seed).normal(size=(len(texts), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return DocumentWrite(record, chunks, np.asarray(vectors, np.float32).reshape(len(texts), -1))


class Trace:
    """What a store needs of a trace (observe.Trace): its JSON form."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


def trace(
    trace_id: str,
    *,
    start: float,
    tenant: str = "default",
    key_id: str | None = None,
    name: str = "search",
    doc_ids: tuple[str, ...] = (),
    input: dict[str, Any] | None = None,
    spans: list[dict[str, Any]] | None = None,
    doc_versions: dict[str, str] | None = None,
) -> Trace:
    """A trace as observe.Trace.to_dict gives it, with the fields the store reads."""
    versions = {} if doc_versions is None else {"doc_versions": doc_versions}
    return Trace(
        {
            **versions,
            "trace_id": trace_id,
            "start": start,
            "name": name,
            "key_id": key_id,
            "tenant": tenant,
            "duration_ms": 12.5,
            "status": "ok",
            "cost_usd": 0.001,
            "input_tokens": 10,
            "output_tokens": 20,
            "doc_ids": sorted(doc_ids),
            "input": input if input is not None else {"query": "what?"},
            "spans": spans or [],
        }
    )


def race(
    docs: Sequence[str], change: Callable[[str], None], write: Callable[[int, str], None], flush: Callable[[], None]
) -> None:
    """`change(doc)` for each of `docs` on another thread, 5 ms apart, while `write(n, doc)` runs
    over the docs in turn until the changes are done (at least 5 writes), `flush()` after every
    third; returns once both are done (the deletion and replacement races' writers)."""
    stop = threading.Event()

    def changing() -> None:
        for d in docs:
            change(d)
            time.sleep(0.005)
        stop.set()

    changer = threading.Thread(target=changing)
    changer.start()
    n = 0
    while not stop.is_set() or n < 5:
        write(n, docs[n % len(docs)])
        if n % 3 == 0:
            flush()
        n += 1
    changer.join()
