"""Deleting or replacing a document takes its words out of the term vocabulary, so the promise
that deleted text is gone from the database file holds word by word, and every process sharing
the file stays consistent after the vocabulary shrinks."""

import numpy as np

from ragwright.store.base import DocumentWrite, text_hash
from ragwright.store.sqlite import SqliteStore
from ragwright.types import Access, Chunk, DocumentRecord

WORD = "quokkazilla"


def _write(store: SqliteStore, doc_id: str, text: str, tenant: str = "default") -> None:
    doc = DocumentRecord(doc_id, f"/docs/{doc_id}.md", doc_id, "md", text_hash(text), 1, tenant=tenant)
    chunk = Chunk(chunk_id=f"{doc_id}#0", doc_id=doc_id, ordinal=0, text=text)
    store.write_documents([DocumentWrite(doc, [chunk], np.ones((1, 4), np.float32))])


def _terms(store: SqliteStore) -> set[str]:
    return {r[0] for r in store._conn.execute("SELECT term FROM terms")}


def test_a_deleted_documents_words_leave_the_vocabulary_and_the_file(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    _write(store, "a", f"The {WORD} lives in the lab.")
    _write(store, "b", "The lab is open on Monday.")
    assert WORD in _terms(store) and [c for c, _ in store.keyword_search(WORD, 5)] == ["a#0"]
    assert store.delete_document("a")
    assert WORD not in _terms(store) and "live" not in _terms(store)
    assert {"lab", "open"} <= _terms(store)  # words another chunk still uses stay
    assert [c for c, _ in store.keyword_search("lab open", 5)] == ["b#0"]
    store.close()
    for path in tmp_path.iterdir():
        assert WORD.encode() not in path.read_bytes(), path


def test_a_replaced_versions_words_leave_too(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    _write(store, "a", f"Version one mentions {WORD}.")
    _write(store, "a", "Version two does not.")
    assert WORD not in _terms(store)
    assert store.keyword_search("version", 5)[0][0] == "a#0"
    store.close()


def test_another_process_with_a_stale_vocabulary_writes_consistently(tmp_path):
    """B read the vocabulary (with WORD) before A pruned it; B then writes WORD again: it must
    add it back rather than reuse an id the table no longer holds."""
    a, b = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")
    _write(a, "x", f"A {WORD} appears.")
    assert b.keyword_search(WORD, 5)[0][0] == "x#0"  # B loads the vocabulary
    a.delete_document("x")
    _write(b, "y", f"Another {WORD} appears, and a wombat.")
    _write(a, "z", "A wombat alone.")
    for store in (a, b):
        assert [c for c, _ in store.keyword_search(WORD, 5)] == ["y#0"]
        assert {c for c, _ in store.keyword_search("wombat", 5)} == {"y#0", "z#0"}
    a.close()
    b.close()


def test_scores_of_one_tenant_ignore_another_tenants_text(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    _write(store, "mine", "Budget approval comes from finance.", tenant="t1")
    mine = {"access": Access("t1")}
    before = store.keyword_search("budget finance", 5, mine)
    for n in range(5):
        _write(store, f"other{n}", "The budget budget budget.", tenant="t2")
    assert store.keyword_search("budget finance", 5, mine) == before
    store.close()


def test_a_new_store_is_private_to_its_user(tmp_path):
    """`ragwright ingest` alone (no server to tighten anything) must not leave documents world-readable."""
    import os
    import stat

    before = os.umask(0o022)
    try:
        store = SqliteStore(tmp_path / "new" / "deeper" / "s.db")
        _write(store, "a", "Salaries are reviewed in March.")
        store.close()
    finally:
        os.umask(before)
    folder = tmp_path / "new" / "deeper"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
