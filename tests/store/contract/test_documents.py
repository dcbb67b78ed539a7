"""Documents, chunks, the manifest and meta: what every store backend promises."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ragwright.errors import StoreError
from ragwright.store.base import text_hash
from ragwright.types import Access

from .backends import document


def test_a_written_document_reads_back_whole(store):
    vectors = np.eye(8, dtype=np.float32)[:2]
    store.write_documents(
        [
            document(
                "a",
                ["First part.", "Second part."],
                metadata={"year": 2020},
                groups=("g2", "g1", "g2"),
                vectors=vectors,
            )
        ]
    )
    doc = store.get_document("a")
    assert (doc.source, doc.n_chunks, doc.metadata, doc.groups, doc.tenant) == (
        "/docs/a.md",
        2,
        {"year": 2020},
        ["g1", "g2"],
        "default",
    )
    assert doc.updated_at.endswith("Z") and doc.updated_at[10] == "T"
    assert store.document_by_source("/docs/a.md").doc_id == "a"
    assert store.get_document("nope") is None and store.document_by_source("/nope") is None
    chunks = store.get_chunks(["a#1", "missing", "a#0"])
    assert list(chunks) == ["a#1", "a#0"]
    assert (chunks["a#1"].chunk.text, chunks["a#1"].chunk.ordinal, chunks["a#1"].source) == (
        "Second part.",
        1,
        "/docs/a.md",
    )
    reuse = store.reusable_vectors("a")
    key = text_hash(chunks["a#0"].chunk.context_text("a"))
    assert set(reuse) == {key, text_hash(chunks["a#1"].chunk.context_text("a"))}
    assert np.allclose(reuse[key], vectors[0])
    assert store.stats() == {"documents": 1, "chunks": 2, "term_rows": 2, "vectors": 2, "failed": 0}


def test_lists_and_counts_with_filters(store):
    store.write_documents(
        [
            document("b", ["Beta."], metadata={"year": 2020, "team": "x"}, source="/docs/b.txt"),
            document("a", ["Alpha."], metadata={"year": 2021}, source="/docs/a.md"),
            document("c", ["Gamma."], metadata={"team": "x"}, source="/other/C.md"),
        ]
    )
    assert [d.doc_id for d in store.list_documents()] == ["a", "b", "c"]  # by source
    assert [d.doc_id for d in store.list_documents(limit=1, offset=1)] == ["b"]
    assert store.count_documents({"metadata.year": "2020"}) == 1  # 2020 matches "2020"
    assert store.count_documents({"metadata.year": [2020, 2021]}) == 2
    assert store.count_documents({"metadata.team": "x", "source": "/docs/*"}) == 1
    assert [d.doc_id for d in store.list_documents({"source": "/*/[ab].*"})] == ["a", "b"]
    assert store.count_documents({"source": "/other/c.md"}) == 0  # case matters, as in GLOB
    assert store.count_documents({"doc_id": []}) == 0
    with pytest.raises(ValueError, match="unknown filter field"):
        store.count_documents({"d.doc_id; DROP TABLE documents": "x"})


def test_the_access_filter_on_documents(store):
    store.write_documents(
        [
            document("open", ["Open."]),
            document("g1", ["Group one."], groups=("g1",)),
            document("other", ["Other tenant."], tenant="t2"),
        ]
    )
    seen = lambda access: {d.doc_id for d in store.list_documents({"access": access})}  # noqa: E731
    assert seen(Access()) == {"open"}
    assert seen(Access(groups=("g1", "g9"))) == {"open", "g1"}
    assert seen(Access(admin=True)) == {"open", "g1"}
    assert seen(Access("t2")) == {"other"}
    with pytest.raises(ValueError, match="Access"):
        store.count_documents({"access": "default"})


def test_a_document_moved_to_another_id_replaces_the_old_one(store):
    store.write_documents([document("old", ["Shared source."], source="/docs/same.md")])
    store.write_documents([document("new", ["Shared source again."], source="/docs/same.md")])
    assert store.get_document("old") is None and store.get_chunks(["old#0"]) == {}
    assert store.document_by_source("/docs/same.md").doc_id == "new"
    assert store.stats()["chunks"] == 1


def test_replace_is_atomic_for_a_concurrent_reader(backend, request):
    """Version A has three chunks, version B two; a reader polling all chunk ids in one call must
    see three A chunks or two B chunks, never a mixture or none."""
    writer, reader = backend.open(), backend.open()
    versions = [
        document("doc", [f"version A part {i}" for i in range(3)]),
        document("doc", [f"version B part {i}" for i in range(2)]),
    ]
    writer.write_documents([versions[0]])
    stop, seen, bad = threading.Event(), set(), []

    def read() -> None:
        while not stop.is_set():
            chunks = reader.get_chunks(["doc#0", "doc#1", "doc#2"])
            texts = sorted(c.chunk.text for c in chunks.values())
            kind = {t.split()[1] for t in texts}
            if not ((kind == {"A"} and len(texts) == 3) or (kind == {"B"} and len(texts) == 2)):
                bad.append(texts)
            seen.add(frozenset(kind))

    thread = threading.Thread(target=read)
    thread.start()
    try:
        # at least 40 writes, and on until the reader has seen both versions (a loaded machine
        # can run all 40 before the reader thread gets its first turn)
        deadline, i = time.monotonic() + 20, 0
        while i < 40 or (len(seen) < 2 and time.monotonic() < deadline):
            writer.write_documents([versions[(i + 1) % 2]])
            i += 1
    finally:
        stop.set()
        thread.join()
    assert not bad, bad[:3]
    assert len(seen) == 2  # the reader did see both versions


def test_one_write_is_all_or_nothing(store):
    store.write_documents([document("keep", ["Kept text."])])
    good, broken = document("good", ["Good."]), document("broken", ["One.", "Two."])
    broken.vectors = broken.vectors[:1]  # two chunks, one vector
    with pytest.raises(ValueError, match="2 chunks but 1 vectors"):
        store.write_documents([good, broken])
    assert store.get_document("good") is None
    assert store.stats() == {"documents": 1, "chunks": 1, "term_rows": 1, "vectors": 1, "failed": 0}


def test_manifest_and_failures(store):
    store.write_documents([document("a", ["Indexed once."])])
    entry = store.manifest_entry("/docs/a.md")
    assert {k: entry[k] for k in ("doc_id", "status", "error")} == {"doc_id": "a", "status": "ok", "error": ""}
    store.record_failure("/docs/a.md", "parse error on page 2")
    store.record_failure("/docs/new.pdf", "encrypted")
    assert store.failures() == [("/docs/a.md", "parse error on page 2"), ("/docs/new.pdf", "encrypted")]
    assert store.manifest_entry("/docs/new.pdf")["status"] == "failed"
    assert [c for c, _ in store.keyword_search("indexed", 5)] == ["a#0"]  # the good version stays
    assert store.stats()["failed"] == 2
    store.write_documents([document("a", ["Indexed twice."])])
    assert store.manifest_entry("/docs/a.md")["status"] == "ok"
    assert store.failures() == [("/docs/new.pdf", "encrypted")]
    assert store.manifest_entry("/nope") is None


def test_meta(store):
    assert store.get_meta("embedder") is None
    store.set_meta("embedder", "minilm")
    store.set_meta("embedder", "minilm-2")
    assert store.get_meta("embedder") == "minilm-2"


def test_add_meta_keeps_the_first_writers_value_across_processes(backend):
    """Two processes making a store's secret at the same moment both end with the first one's
    (ingest/doc_ids.py: otherwise their documents' ids would be keyed apart)."""
    one, other = backend.open(), backend.open()
    assert one.get_meta("doc_id_key") is None and other.get_meta("doc_id_key") is None  # both saw none
    assert one.add_meta("doc_id_key", "first") == "first"
    assert other.add_meta("doc_id_key", "second") == "first"
    assert other.get_meta("doc_id_key") == one.get_meta("doc_id_key") == "first"


def test_a_reopened_store_keeps_everything_and_a_newer_schema_is_refused(backend):
    first = backend.open()
    first.write_documents([document("a", ["Survives a reopen."])])
    backend.close_store(first)
    assert backend.open().get_document("a") is not None  # reopening migrates nothing
    newer = backend.mark_newer_schema()
    with pytest.raises(StoreError, match=f"schema version {newer}, newer than this ragwright understands"):
        backend.open()


def test_a_boolean_metadata_filter_matches_a_json_boolean(backend, request):
    store = backend.open()
    store.write_documents(
        [
            document("yes", ["Flagged."], metadata={"flag": True}),
            document("no", ["Not flagged."], metadata={"flag": False}),
        ]
    )
    assert [d.doc_id for d in store.list_documents({"metadata.flag": True})] == ["yes"]
    assert [d.doc_id for d in store.list_documents({"metadata.flag": "false"})] == ["no"]


def test_closing_twice_is_harmless(backend, request):
    store = backend.open()
    backend.close_store(store)
    store.close()
