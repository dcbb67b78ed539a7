"""True deletion: a deleted document is gone from every table the API reaches, its words leave
the term vocabulary, and every process sharing the store stops finding it."""

from __future__ import annotations

import numpy as np

from .backends import document

SECRET = "zanzibarwolfram"


def test_a_deleted_document_is_gone_from_every_table(backend):
    store = backend.open()
    vec = np.eye(8, dtype=np.float32)[3]
    store.write_documents(
        [
            document("s", [f"The launch code is {SECRET}.", "The lab keeps it."], vectors=[vec, vec]),
            document("k", ["The lab is open on Monday."]),
        ]
    )
    assert SECRET in backend.all_rows_text() and SECRET.lower() in backend.terms()
    assert [c for c, _ in store.keyword_search(SECRET, 5)] == ["s#0"]  # the index holds it, too

    assert store.delete_document("s") is True
    assert store.get_document("s") is None and store.document_by_source("/docs/s.md") is None
    assert store.get_chunks(["s#0", "s#1"]) == {} and store.reusable_vectors("s") == {}
    assert store.keyword_search(SECRET, 5) == []
    assert all(not c.startswith("s#") for c, _ in store.vector_search(vec, 5))
    assert store.manifest_entry("/docs/s.md") is None
    assert store.stats() == {"documents": 1, "chunks": 1, "term_rows": 1, "vectors": 1, "failed": 0}
    assert SECRET not in backend.all_rows_text(), "a table still holds the deleted text"
    terms = backend.terms()
    assert SECRET.lower() not in terms and "launch" not in terms and "code" not in terms
    assert {"lab", "open"} <= terms  # words another chunk still uses stay
    assert [c for c, _ in store.keyword_search("lab open", 5)] == ["k#0"]
    assert store.delete_document("s") is False


def test_a_replaced_versions_words_leave_the_vocabulary(store, backend):
    store.write_documents([document("a", [f"Version one mentions {SECRET}."])])
    store.write_documents([document("a", ["Version two does not."])])
    assert SECRET.lower() not in backend.terms()
    assert store.keyword_search(SECRET, 5) == []
    assert store.keyword_search("version", 5)[0][0] == "a#0"


def test_every_store_on_the_database_sees_writes_and_deletions(backend):
    """Two stores stand for two processes: B read the vocabulary (with the word) before A pruned
    it; B then writes the word again and must add it back rather than reuse a pruned id."""
    a, b = backend.open(), backend.open()
    a.write_documents([document("x", [f"A {SECRET} appears."])])
    assert [c for c, _ in b.keyword_search(SECRET, 5)] == ["x#0"]
    a.delete_document("x")
    assert b.keyword_search(SECRET, 5) == [] and b.get_document("x") is None
    b.write_documents([document("y", [f"Another {SECRET} appears, and a wombat."])])
    a.write_documents([document("z", ["A wombat alone."])])
    for store in (a, b):
        assert [c for c, _ in store.keyword_search(SECRET, 5)] == ["y#0"]
        assert {c for c, _ in store.keyword_search("wombat", 5)} == {"y#0", "z#0"}
