"""A deletion landing while a request that read the document is still running.

Attack (review 12, e_delete_race.py): an ask read a passage, the document was deleted while the
model wrote, and the ask then saved its trace and its cached reply, quoting the deleted text and
naming a document that no longer existed: delete_document had flushed only the traces queued
before it, and nothing removed what came after. GET /v1/traces/<that ask> returned the text, and
one traces row and one cache_entries row held it. A trace or cache entry naming a document that
is not stored is now never kept, in the same transaction as the check, so no deletion slips
between them."""

from __future__ import annotations

import time

from .backends import document, race, trace

SECRET = "quokka5512vault"
QUOTE = {"name": "generate", "attributes": {"answer": f"The vault code is {SECRET} [1]."}}


def _stored(backend):
    a = backend.open()
    a.write_documents([document("vault", [f"The vault code is {SECRET}."]), document("k", ["Lunch is at noon."])])
    return a


def test_a_trace_saved_after_its_document_was_deleted_is_not_kept(backend):
    a, b = _stored(backend), backend.open()
    assert b.delete_document("vault") is True  # another process deletes while a's ask runs
    a.save_trace(trace("t-late", start=time.time(), doc_ids=("vault", "k"), spans=[QUOTE]))
    a.save_trace(trace("t-fine", start=time.time(), doc_ids=("k",)))
    a.save_trace(trace("t-none", start=time.time()))
    a.flush_traces()
    for store in (a, b):
        assert store.get_trace("t-late") is None
        assert sorted(t["trace_id"] for t in store.list_traces()) == ["t-fine", "t-none"]
    assert SECRET not in backend.all_rows_text(), "a table holds the deleted text"


def test_a_cache_entry_made_from_a_deleted_document_is_not_kept(backend):
    a, b = _stored(backend), backend.open()
    assert b.delete_document("vault") is True
    a.cache_put("exact", "late", f"The vault code is {SECRET}.")
    a.cache_link("exact", "late", ["k", "vault"])
    a.cache_put("exact", "fine", "Lunch is at noon.")
    a.cache_link("exact", "fine", ["k"])
    for store in (a, b):
        assert store.cache_get("exact", "late") is None and store.cache_get("exact", "fine") == "Lunch is at noon."
    assert SECRET not in backend.all_rows_text(), "a table holds the deleted text"
    b.delete_document("k")
    assert a.cache_get("exact", "fine") is None  # linked as before: it goes with its document


def test_traces_and_caches_written_during_deletions_never_outlive_them(backend):
    """Writers racing deletions: whichever commits first, nothing that names a deleted document
    is left once both are done."""
    a, b = backend.open(), backend.open()
    docs = [f"v{n}" for n in range(12)]
    a.write_documents([document(d, [f"Secret {d} is {SECRET}."]) for d in docs])

    def write(n: int, d: str) -> None:
        a.save_trace(trace(f"t{n}", start=time.time(), doc_ids=(d,), spans=[QUOTE]))
        a.cache_put("exact", f"c{n}", f"Secret {d} is {SECRET}.")
        a.cache_link("exact", f"c{n}", [d])

    race(docs, b.delete_document, write, a.flush_traces)
    a.flush_traces()
    assert b.count_documents() == 0
    assert a.list_traces() == [] and a.cache_scan("exact") == []
    assert SECRET not in backend.all_rows_text(), "a table holds a deleted document's text"
