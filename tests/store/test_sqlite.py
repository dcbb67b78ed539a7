import sqlite3

import numpy as np
import pytest

from ragwright import StoreError, TextRecord
from ragwright.store import SqliteStore
from ragwright.store.schema import LATEST


def test_schema_version_and_wal(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    SqliteStore(tmp_path / "s.db").close()  # reopening migrates nothing and keeps working


def test_newer_schema_is_refused(tmp_path):
    SqliteStore(tmp_path / "s.db").close()
    conn = sqlite3.connect(tmp_path / "s.db")
    conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this ragwright"):
        SqliteStore(tmp_path / "s.db")


def test_not_a_database(tmp_path):
    (tmp_path / "s.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        SqliteStore(tmp_path / "s.db")


def test_keyword_search_takes_any_text(workspace):
    workspace.ingest_records([TextRecord(id="a", text='Quotes " and stars * and NEAR( parentheses')])
    hits = workspace.store.keyword_search('"unbalanced AND (NEAR *', 5)
    assert [c for c, _ in hits] == ["a#0"]
    assert hits[0][1] == pytest.approx(workspace.store.keyword_search("near", 5)[0][1])
    assert workspace.store.keyword_search("the and of", 5) == []  # stop words only
    assert workspace.store.keyword_search("", 5) == []


def test_deleted_text_is_gone_from_the_file(workspace, tmp_path):
    secret = "zanzibar-wolfram-7731"
    workspace.ingest_records(
        [TextRecord(id="s", text=f"The launch code is {secret}."), TextRecord(id="k", text="Keep this one.")]
    )
    workspace.delete("s")
    workspace.close()
    db = workspace.settings.db_path
    for path in [db, db.with_name(db.name + "-wal")]:
        if path.exists():
            assert secret.encode() not in path.read_bytes(), f"{path.name} still holds the deleted text"


def test_filters(workspace):
    workspace.ingest_records(
        [
            TextRecord(id="a", text="Solar panels on the roof.", metadata={"team": "facilities"}, source="/docs/a.md"),
            TextRecord(id="b", text="Solar panels in the budget.", metadata={"team": "finance"}, source="/docs/b.txt"),
        ]
    )
    store = workspace.store
    vec = workspace.embedder.embed(["solar panels"])[0]
    assert [c for c, _ in store.keyword_search("solar", 5, {"metadata.team": "finance"})] == ["b#0"]
    assert [c for c, _ in store.vector_search(vec, 5, {"metadata.team": ["finance"]})] == ["b#0"]
    assert [c for c, _ in store.vector_search(vec, 5, {"source": "/docs/*.md"})] == ["a#0"]
    assert store.keyword_search("solar", 5, {"doc_id": []}) == []
    with pytest.raises(ValueError, match="unknown filter field"):
        store.keyword_search("solar", 5, {"d.doc_id; DROP": "x"})


def test_disk_full_rolls_back_and_says_so(workspace):
    workspace.ingest_records([TextRecord(id="first", text="A small first document.")])
    conn = workspace.store._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    big = [TextRecord(id=f"big{i}", text=("Lots of text to fill the disk. " * 400)) for i in range(5)]
    with pytest.raises(StoreError, match="disk full"):
        workspace.ingest_records(big)
    stats = workspace.store.stats()
    assert stats["documents"] == 1 and stats["chunks"] == stats["term_rows"] == stats["vectors"] == 1


def test_write_rejects_mismatched_vectors(tmp_path):
    from ragwright.store import DocumentWrite
    from ragwright.types import Chunk, DocumentRecord

    store = SqliteStore(tmp_path / "s.db")
    doc = DocumentRecord("d", "src", "t", "text", "h")
    with pytest.raises(ValueError, match="1 chunks but 0 vectors"):
        store.write_documents([DocumentWrite(doc, [Chunk("d#0", "d", 0, "x")], np.zeros((0, 384), np.float32))])
    assert store.stats()["documents"] == 0


def test_two_processes_creating_a_store_at_once(tmp_path):
    import threading

    errors = []
    barrier = threading.Barrier(4)

    def open_store(i: int) -> None:
        try:
            barrier.wait()
            SqliteStore(tmp_path / "s.db").close()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_store, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_indexes_current_says_when_a_search_would_rebuild(workspace):
    """The server runs a search on its event loop only when no index has to be rebuilt first."""
    store = workspace.store
    workspace.ingest_records([TextRecord("a", "Apples grow on trees.")])
    assert not store.indexes_current()  # written, not yet searched
    workspace.search("apples", 1)
    assert store.indexes_current()
    workspace.ingest_records([TextRecord("b", "Bananas grow in bunches.")])
    assert not store.indexes_current()  # a write made them stale
    store.vector_search(np.zeros(384, np.float32), 1)
    assert not store.indexes_current()  # BM25's is still stale
    store.keyword_search("bananas", 1)
    assert store.indexes_current()


def test_warm_builds_the_indexes_a_search_would(workspace):
    workspace.ingest_records([TextRecord("a", "Apples grow on trees.")])
    assert not workspace.store.indexes_current()
    workspace.store.warm()
    assert workspace.store.indexes_current()
