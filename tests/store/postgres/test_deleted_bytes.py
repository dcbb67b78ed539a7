"""What the README says of a deleted document's bytes on PostgreSQL (review 16, H), measured on
the database's own files: the deletion removes the rows, but the dead row versions stay in the
table's file; a plain VACUUM marks their space free without overwriting it (the text is still
there); `VACUUM FULL` rewrites the tables into new files, after which no file of the database
holds it. The WAL is the cluster's and is not checked here (it keeps the text until recycled)."""

from __future__ import annotations

from pathlib import Path

import psycopg

from ragwright.store.postgres.store import PostgresStore
from tests.store.contract.backends import document
from tests.stores import fresh_database

SECRET = "QuartzFalcon payroll 8812 is the deleted sentence"


def database_files(url: str) -> tuple[Path, list[Path]]:
    """The chunks table's file, and every file of the database (base/<oid>/)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # dirty pages reach the files
        root = Path(conn.execute("SHOW data_directory").fetchone()[0])
        chunks = root / conn.execute("SELECT pg_relation_filepath('chunks')").fetchone()[0]
        oid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()").fetchone()[0]
    return chunks, [p for p in (root / "base" / str(oid)).iterdir() if p.is_file()]


def holding(files: list[Path]) -> list[Path]:
    return [p for p in files if SECRET.encode() in p.read_bytes()]


def run(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def test_deleted_text_leaves_the_database_files_after_vacuum_full_only(postgres_url):
    with fresh_database(postgres_url) as url:
        store = PostgresStore(url)
        try:
            check(store, url)
        finally:
            store.close()


def check(store: PostgresStore, url: str) -> None:
    # the secret is written last: its row sits lowest in the page, where compacting the page
    # around the rows that stay does not overwrite it
    store.write_documents([document(f"lunch{i}", [f"Lunch {i} is served at noon in hall {i}."]) for i in range(5)])
    store.write_documents([document("payroll", [f"{SECRET}."], title="Payroll")])
    chunks, _ = database_files(url)
    assert holding([chunks])

    assert store.delete_document("payroll") is True
    chunks, _ = database_files(url)
    assert holding([chunks]), "the dead row version is in the table's file until VACUUM"
    run(url, "VACUUM")
    chunks, _ = database_files(url)
    assert holding([chunks]), "a plain VACUUM frees the space without overwriting it"
    run(url, "VACUUM FULL")
    _, files = database_files(url)
    assert holding(files) == [], "VACUUM FULL leaves no file of the database holding the text"
    assert [r[0] for r in store.keyword_search("lunch", 10)] and store.get_document("lunch0") is not None
