"""A replacement landing while a request that read the document is still running.

Attack (after review 12's deletion race): an ask read a passage, the document was re-ingested
with new text (same doc id, old chunks gone) while the model wrote, and the ask then saved its
trace and its cached reply. The replacement had already taken away the traces and cache entries
that quoted the old text; these came after, quoted it too, and were kept: the trace returned the
old text, and an identical request was answered from the cache with it. A request now says which
version of each document it read (StoredChunk.version, as get_chunks gives it); a trace or cache
entry quoting a version that is no longer the stored one is not kept, checked in the
transaction that writes it, as for a deletion."""

from __future__ import annotations

import time

import pytest

from .backends import document, race, trace

OLD_SECRET = "wombat7781vault"
OLD = document("vault", [f"The vault code is {OLD_SECRET}."])
NEW = document("vault", ["The vault code was rotated; ask the office."])
QUOTE = {"name": "generate", "attributes": {"answer": f"The vault code is {OLD_SECRET} [1]."}}


def _read(store, chunk_id: str = "vault#0") -> dict[str, str]:
    """What an ask keeps of its read: each passage's document and the version it read."""
    return {s.chunk.doc_id: s.version for s in store.get_chunks([chunk_id]).values()}


def _replaced_mid_ask(backend):
    """Store a (the asking process) reads the vault document; store b re-ingests it with new text
    before a writes what it made from the old one."""
    a, b = backend.open(), backend.open()
    a.write_documents([OLD, document("k", ["Lunch is at noon."])])
    read = {**_read(a), **_read(a, "k#0")}
    b.write_documents([NEW])
    return a, b, read


def test_a_read_passage_carries_its_documents_version(backend):
    a = backend.open()
    a.write_documents([OLD])
    assert _read(a) == {"vault": OLD.document.content_hash}
    a.write_documents([NEW])
    assert _read(a) == {"vault": NEW.document.content_hash}


def test_a_trace_saved_after_its_document_was_replaced_is_not_kept(backend):
    a, b, read = _replaced_mid_ask(backend)
    a.save_trace(trace("t-late", start=time.time(), doc_ids=("vault", "k"), spans=[QUOTE], doc_versions=read))
    fresh = _read(a)  # read after the replacement: the current version
    a.save_trace(trace("t-fresh", start=time.time(), doc_ids=("vault",), doc_versions=fresh))
    a.save_trace(trace("t-fine", start=time.time(), doc_ids=("k",)))
    a.flush_traces()
    for store in (a, b):
        assert store.get_trace("t-late") is None
        assert sorted(t["trace_id"] for t in store.list_traces()) == ["t-fine", "t-fresh"]
    assert OLD_SECRET not in backend.all_rows_text(), "a table holds the replaced text"


@pytest.mark.parametrize("how", ["put_with_sources", "put_then_link"])
def test_a_cache_entry_made_from_a_replaced_document_is_not_kept_nor_served(backend, how):
    a, b, read = _replaced_mid_ask(backend)
    stale = f"The vault code is {OLD_SECRET}."
    if how == "put_with_sources":  # what the gateway does: one transaction
        a.cache_put("exact", "late", stale, sources=read)
    else:  # the two-step form the contract still offers
        a.cache_put("exact", "late", stale)
        a.cache_link("exact", "late", read)
    for store in (a, b):  # the identical request, from either process, is not answered with it
        assert store.cache_get("exact", "late") is None
    assert OLD_SECRET not in backend.all_rows_text(), "a table holds the replaced text"
    a.cache_put("exact", "fresh", "Rotated.", sources=_read(a))
    assert b.cache_get("exact", "fresh") == "Rotated."
    b.write_documents([OLD])  # replaced again: the entry made from NEW goes with NEW's text
    assert a.cache_get("exact", "fresh") is None


def test_a_cache_entry_put_with_its_sources_is_never_readable_unlinked(backend):
    """cache_put then cache_link left a window: between the two transactions the entry was
    stored but not linked, so another process's identical request was answered with the text of
    a document deleted just before (and a crash there left it unlinked, out of a later deletion's
    reach). Given its sources, cache_put checks, writes and links in one transaction."""
    a, b = backend.open(), backend.open()
    a.write_documents([OLD])
    read = _read(a)
    assert b.delete_document("vault") is True
    a.cache_put("exact", "late", f"The vault code is {OLD_SECRET}.", sources=read)
    assert b.cache_get("exact", "late") is None  # no cache_link call: nothing to wait for
    assert OLD_SECRET not in backend.all_rows_text()


def test_traces_and_caches_written_during_replacements_never_outlive_them(backend):
    """Writers racing replacements: whichever commits first, every trace and cache entry left once
    both are done quotes the version now stored, and none holds a replaced text."""
    a, b = backend.open(), backend.open()
    docs = [f"v{n}" for n in range(8)]
    a.write_documents([document(d, [f"Secret {d} is {OLD_SECRET}."]) for d in docs])

    def write(n: int, d: str) -> None:
        read = _read(a, f"{d}#0")
        text = a.get_chunks([f"{d}#0"])[f"{d}#0"].chunk.text  # what the request quotes
        a.save_trace(trace(f"t{n}", start=time.time(), doc_ids=(d,), spans=[{"text": text}], doc_versions=read))
        a.cache_put("exact", f"c{n}", text, sources=read)

    race(docs, lambda d: b.write_documents([document(d, [f"Secret {d} was rotated."])]), write, a.flush_traces)
    a.flush_traces()
    assert OLD_SECRET not in backend.all_rows_text(), "a table holds a replaced text"
    kept = [t["trace_id"] for t in a.list_traces(limit=10_000)]
    assert kept and all("rotated" in str(a.get_trace(t)) for t in kept)
    assert all("rotated" in v for _, v in a.cache_scan("exact", limit=10_000))
