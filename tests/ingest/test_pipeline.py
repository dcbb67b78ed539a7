import threading

import pytest

from ragwright import TextRecord


def test_ingest_sample_corpus_every_format(workspace, corpus):
    report = workspace.ingest([corpus])
    assert report.failed == []
    assert report.ingested == 6 and report.chunks >= 6
    formats = {d.format for d in workspace.documents()}
    assert formats == {"markdown", "text", "html", "pdf", "docx"}
    stats = workspace.store.stats()
    assert stats["chunks"] == stats["term_rows"] == stats["vectors"] == report.chunks


def test_reingesting_unchanged_files_is_a_noop(workspace, corpus, embedder, monkeypatch):
    workspace.ingest([corpus])
    calls = []
    monkeypatch.setattr(embedder, "embed", lambda texts: calls.append(texts))
    report = workspace.ingest([corpus])
    assert (report.ingested, report.unchanged, report.chunks) == (0, 6, 0)
    assert calls == []


def test_touched_but_identical_file_is_unchanged(workspace, corpus):
    workspace.ingest([corpus])
    path = corpus / "onboarding.md"
    path.write_bytes(path.read_bytes())  # new mtime, same bytes
    report = workspace.ingest([corpus])
    assert report.ingested == 0 and report.unchanged == 6


def test_changed_file_replaces_its_chunks_and_reuses_unchanged_vectors(workspace, corpus, embedder, monkeypatch):
    workspace.ingest([corpus])
    path = corpus / "leave-policy.md"
    path.write_text(
        path.read_text() + "\n## Sabbatical\n\nAfter five years, employees may take a three-month sabbatical.\n"
    )
    embedded: list[str] = []
    real = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda texts: (embedded.extend(texts), real(texts))[1])
    report = workspace.ingest([corpus])
    assert report.ingested == 1 and report.unchanged == 5
    assert len(embedded) == 1 and "sabbatical" in embedded[0]
    hits = workspace.search("sabbatical after five years", k=1)
    assert "sabbatical" in hits[0].text
    stats = workspace.store.stats()
    assert stats["chunks"] == stats["term_rows"] == stats["vectors"]


def test_replacement_is_atomic_for_concurrent_readers(workspace):
    """A reader polling during re-ingestion sees the old version or the new one, never both or neither."""
    versions = [
        TextRecord(
            id="doc",
            text=" ".join([f"version{v} paragraph {i}." for i in range(3)])
            + "\n\n"
            + " ".join(f"more text {v} {j}" for j in range(400)),
            title="Doc",
        )
        for v in range(6)
    ]
    workspace.ingest_records(versions[:1])
    store = workspace.store
    seen: list[set[str]] = []
    stop = threading.Event()

    def reader() -> None:
        from ragwright.store import SqliteStore

        other = SqliteStore(store.path)
        while not stop.is_set():
            rows = other._conn.execute("SELECT text FROM chunks WHERE doc_id = 'doc'").fetchall()
            seen.append({w for (t,) in rows for w in t.split() if w.startswith("version")})
        other.close()

    thread = threading.Thread(target=reader)
    thread.start()
    for version in versions[1:]:
        workspace.ingest_records([version])
    stop.set()
    thread.join()
    assert seen, "the reader never ran"
    assert all(len(s) == 1 for s in seen), [s for s in seen if len(s) != 1][:3]


def test_prune_drops_documents_whose_files_are_gone(workspace, corpus):
    workspace.ingest([corpus])
    (corpus / "it-security.txt").unlink()
    report = workspace.ingest([corpus], prune=True)
    assert report.pruned == 1
    assert not any(d.source.endswith("it-security.txt") for d in workspace.documents())
    assert all("extension 4444" not in r.text for r in workspace.search("lost device extension", k=10))


def test_delete_by_path_and_by_id(workspace, corpus):
    workspace.ingest([corpus])
    doc = workspace.delete(str(corpus / "expenses.html"))
    assert doc.format == "html"
    assert workspace.store.get_document(doc.doc_id) is None
    other = workspace.documents()[0]
    workspace.delete(other.doc_id)
    assert len(workspace.documents()) == 4
    stats = workspace.store.stats()
    assert stats["chunks"] == stats["term_rows"] == stats["vectors"]
    with pytest.raises(LookupError, match="no document"):
        workspace.delete("d_doesnotexist")


def test_bad_files_fail_alone(workspace, corpus):
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "binary.md").write_bytes(b"\x00\x01\x02" * 100)
    (corpus / "bad.txt").write_bytes(b"caf\xe9")
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj")
    report = workspace.ingest([corpus, corpus / "missing.md"])
    assert report.ingested == 6
    errors = {f.path.rsplit("/", 1)[-1]: f.error for f in report.failed}
    assert set(errors) == {"empty.md", "binary.md", "bad.txt", "broken.pdf", "missing.md"}
    assert errors["empty.md"] == "file is empty"
    assert "truncated" in errors["broken.pdf"]
    assert {p for p, _ in workspace.store.failures()} >= {str(corpus / "empty.md"), str(corpus / "bad.txt")}


def test_file_over_size_limit(workspace, corpus):
    workspace.settings.ingest.max_file_mb = 0.0005
    report = workspace.ingest([corpus / "leave-policy.md"])
    assert report.ingested == 0
    assert "over the limit of 0.0005 MB" in report.failed[0].error


def test_failed_new_version_keeps_the_old_one_searchable(workspace, corpus):
    workspace.ingest([corpus])
    (corpus / "onboarding.md").write_bytes(b"\x00\x00binary now")
    report = workspace.ingest([corpus])
    assert len(report.failed) == 1
    assert any("welcome session" in r.text for r in workspace.search("welcome session Monday", k=3))
