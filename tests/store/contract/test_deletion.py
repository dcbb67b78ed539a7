"""True deletion: a deleted document is gone from every table the API reaches, its words leave
the term vocabulary, and every process sharing the store stops finding it."""

from __future__ import annotations

import time

import numpy as np

from .backends import document, trace

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


DOC = "doc-qx7"  # an id no other row holds by chance


def quoted(a) -> None:
    """DOC and k written, traces quoting DOC (one still queued) and one only k, and a cache entry
    quoting DOC (its link is the test's to make)."""
    a.write_documents([document(DOC, [f"The launch code is {SECRET}."]), document("k", ["The lab is open."])])
    passage = {"name": "retrieve", "attributes": {"passages": [f"The launch code is {SECRET}."]}}
    a.save_trace(trace("t-flushed", start=time.time(), doc_ids=(DOC, "k"), spans=[passage]))
    a.flush_traces()
    a.save_trace(trace("t-queued", start=time.time(), doc_ids=(DOC,), spans=[passage]))  # still in the queue
    a.save_trace(trace("t-other", start=time.time(), doc_ids=("k",)))
    a.cache_put("exact", "q1", f"answer: {SECRET}")


def test_a_deleted_documents_text_and_name_leave_every_record_that_held_them(backend):
    """Traces that quote it (one still queued), cache entries made from it, feedback marks and
    learned marks naming it: all go with the document, in another process's view too. What is
    not the document's stays: other traces and caches, the feedback's own words, the audit log's
    record of who read which id."""
    a, b = backend.open(), backend.open()
    quoted(a)
    a.cache_link("exact", "q1", [DOC, "k"])
    a.cache_put("semantic", "q2", "answer: the lab is open")
    a.cache_link("semantic", "q2", ["k"])
    marks = [{"doc_id": DOC, "chunk_id": f"{DOC}#0", "relevant": True}, {"doc_id": "k", "relevant": False}]
    a.save_feedback(
        "f1", "t-flushed", key_id=None, tenant="default", query="what is the code?", rating=1.0,
        rating_scale="thumbs", correction="ask the lab", marks=marks, cited=[DOC, "k"],
    )  # fmt: skip
    a.save_learned("weights", b"blob", [(0, DOC, f"{DOC}#0", 1.0), (0, "k", None, 0.5)], {})
    a.write_audit([(time.time(), None, "default", "POST", "/v1/ask", 200, [DOC], 1.0)])
    a.flush_traces()
    assert SECRET in backend.all_rows_text() and DOC in backend.all_rows_text(skip=("audit_log",))

    assert b.delete_document(DOC) is True
    assert SECRET not in backend.all_rows_text(), "a table still holds the deleted text"
    assert DOC not in backend.all_rows_text(skip=("audit_log",)), "a table still names the deleted document"
    for store in (a, b):
        assert store.get_trace("t-flushed") is None and store.get_trace("t-queued") is None
        assert [t["trace_id"] for t in store.list_traces()] == ["t-other"]
        assert store.cache_get("exact", "q1") is None and store.cache_get("semantic", "q2") == "answer: the lab is open"
        (feedback,) = store.list_feedback()
        assert feedback["marks"] == [{"doc_id": "k", "relevant": False}] and feedback["cited"] == ["k"]
        assert (feedback["query"], feedback["correction"]) == ("what is the code?", "ask the lab")
        assert [m[1] for m in store.active_learned()["marks"]] == ["k"]
        assert store.list_audit()[0]["doc_ids"] == [DOC]


def test_a_replaced_versions_text_leaves_every_record_that_quoted_it(backend):
    """A second upload of a file replaces the document in place (same id): the traces that quoted
    the old version (one still queued) and the cache entries made from it go, as on deletion, in
    every process's view; what did not quote it stays, and so does the feedback (the document
    still exists). Writing the same content again takes nothing along; a source another id
    takes over is a deletion of the old id."""
    a, b = backend.open(), backend.open()
    quoted(a)
    a.cache_link("exact", "q1", [DOC])
    a.cache_put("semantic", "q2", "answer: the lab is open")
    a.cache_link("semantic", "q2", ["k"])
    marks = [{"doc_id": DOC, "chunk_id": f"{DOC}#0", "relevant": True}]
    a.save_feedback(
        "f1", "t-flushed", key_id=None, tenant="default", query="what is the code?", rating=1.0,
        rating_scale="thumbs", correction=None, marks=marks, cited=[DOC],
    )  # fmt: skip

    a.write_documents([document(DOC, ["The launch code is kept by the lab."])])
    assert SECRET not in backend.all_rows_text(), "a table still holds the replaced text"
    for store in (a, b):
        assert [t["trace_id"] for t in store.list_traces()] == ["t-other"]
        assert store.cache_get("exact", "q1") is None and store.cache_get("semantic", "q2") == "answer: the lab is open"
        assert store.list_feedback()[0]["cited"] == [DOC]

    b.cache_put("exact", "q3", "answer: the lab keeps it")
    b.cache_link("exact", "q3", [DOC])
    b.write_documents([document(DOC, ["The launch code is kept by the lab."])])  # unchanged: nothing goes
    assert a.cache_get("exact", "q3") == "answer: the lab keeps it"
    b.write_documents([document("k2", ["The lab is open on Monday."], source="/docs/k.md")])  # k's source, new id
    assert a.cache_get("semantic", "q2") is None and a.list_traces() == []
    assert a.get_document("k") is None and b.document_by_source("/docs/k.md").doc_id == "k2"


def test_a_replaced_versions_text_is_not_in_the_sqlite_file(tmp_path):
    """Freed pages are overwritten (secure_delete) and the WAL folded back, as after a deletion."""
    from ragwright.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "store.db")
    store.write_documents([document(DOC, [f"The launch code is {SECRET}."])])
    store.save_trace(trace("t", start=time.time(), doc_ids=(DOC,), spans=[{"name": "x", "attributes": {"q": SECRET}}]))
    store.flush_traces()
    store.write_documents([document(DOC, ["The launch code is kept by the lab."])])
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("store.db*"))
    store.close()
    assert SECRET.encode() not in stored
