"""Attack: a document id was sha1(server path)[:16], and an uploader knows every part of an
upload's path but the data dir, so it recovered the data dir offline by hashing guesses against
the id the upload returned. Ids are now an HMAC keyed by a secret of the workspace (store meta,
made on first use, never shown). A store whose documents have the old ids keeps them: an
unchanged file is found, a changed one keeps its id, a replacing upload returns that id."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, Workspace
from ragwright.ingest import doc_ids
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.stores import BACKENDS, store_url


def _sha1_id(source: Path | str) -> str:
    """The old scheme, as an attacker computes it for a guessed path."""
    return "d_" + hashlib.sha1(str(source).encode("utf-8")).hexdigest()[:16]


def _workspace(data: Path, url: str, embedder) -> Workspace:
    return Workspace(settings=Settings(data_dir=data, store={"url": url}), embedder=embedder)


def _upload(ws: Workspace, name: str, text: bytes) -> str:
    key = create_key(ws.store, "acme", ["read", "write"], ["hr"])["key"]
    with TestClient(create_app(workspace=ws), headers={"Authorization": f"Bearer {key}"}) as c:
        up = c.post("/v1/documents", data={"groups": "hr"}, files=[("file", (name, text))]).json()
        deadline = time.monotonic() + 120
        while c.get(up["status_url"]).json()["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline, "the upload's job did not finish"
            time.sleep(0.05)
        assert secret_of(ws) not in str(c.get("/v1/documents").json())
    return str(up["document_ids"][0])


def secret_of(ws: Workspace) -> str:
    return ws.store.get_meta("doc_id_key") or "<none>"


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_upload_id_does_not_give_the_data_dir_away(tmp_path, embedder, backend, request):
    with store_url(backend, request) as url:
        ws = _workspace(tmp_path / "home" / "svc-ragprod" / ".ragwright", url, embedder)
        doc_id = _upload(ws, "x.md", b"# X\nhello\n")
        stored = ws.store.get_document(doc_id)
        assert stored is not None  # the id the upload returned is the document's
        assert doc_id != _sha1_id(stored.source)  # the offline check of a guessed data dir fails
        assert secret_of(ws) != "<none>"
        ws.close()
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "a.md").write_text("# A\nAlpha.\n")
    ids = []
    for name in ("one", "two"):  # the same path in two workspaces: two secrets, two ids
        with _workspace(tmp_path / name, "", embedder) as other:
            other.ingest([folder])
            ids.append(other.documents()[0].doc_id)
    assert ids[0] != ids[1] and _sha1_id((folder / "a.md").resolve()) not in ids


@pytest.mark.parametrize("backend", BACKENDS)
def test_documents_stored_with_sha1_ids_keep_them(tmp_path, embedder, backend, request, monkeypatch):
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "a.md").write_text("# A\nAlpha.\n")
    with store_url(backend, request) as url:
        ws = _workspace(tmp_path / "data", url, embedder)
        unkeyed = doc_ids.doc_id_for
        with monkeypatch.context() as old:  # as ragwright made ids before: sha1 of the path
            old.setattr(doc_ids, "doc_id_for", lambda source, key=None: unkeyed(source))
            ws.ingest([folder])
            uploaded = _upload(ws, "x.md", b"# X\nhello\n")
        a = {d.source: d for d in ws.documents()}[str((folder / "a.md").resolve())]
        assert a.doc_id == _sha1_id(a.source)
        assert ws.ingest([folder]).unchanged == 1  # found, not duplicated
        (folder / "a.md").write_text("# A\nAlpha, changed.\n")
        assert ws.ingest([folder]).ingested == 1
        assert ws.store.get_document(a.doc_id).content_hash != a.content_hash  # the same id, new text
        assert _upload(ws, "x.md", b"# X\nhello again\n") == uploaded  # a replacing upload: the old id
        assert ws.store.get_document(uploaded).size == len(b"# X\nhello again\n")
        (folder / "b.md").write_text("# B\nBeta.\n")
        ws.ingest([folder])
        ids = {d.source: d.doc_id for d in ws.documents()}
        assert len(ids) == 3 and ids[str((folder / "b.md").resolve())] != _sha1_id((folder / "b.md").resolve())
        ws.close()
