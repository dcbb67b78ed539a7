"""Attack: a `write` key of group `eng` deletes documents it could never have uploaded, a
document shared by `eng` and `legal` (taken from `legal`'s readers too) and one the operator
ingested, because DELETE checked only that the key could read them. A write key deletes what it
could upload (an upload all of whose groups it holds); the rest needs an admin key."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, TextRecord, Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key
from ragwright.types import Access
from tests.stores import BACKENDS, store_url


def _bearer(ws: Workspace, scopes: list[str], groups: list[str]) -> dict[str, str]:
    return {"Authorization": "Bearer " + create_key(ws.store, "acme", scopes, groups)["key"]}


def _upload(c: TestClient, headers: dict[str, str], name: str, groups: str) -> str:
    up = c.post("/v1/documents", headers=headers, data={"groups": groups}, files=[("file", (name, b"# T\nText.\n"))])
    assert up.status_code == 202, up.text
    for _ in range(600):
        if c.get(up.json()["status_url"], headers=headers).json()["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    return str(up.json()["document_ids"][0])


def _listed(c: TestClient, headers: dict[str, str]) -> set[str]:
    return {d["doc_id"] for d in c.get("/v1/documents", headers=headers).json()["documents"]}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_write_key_deletes_only_what_it_could_upload(tmp_path, embedder, backend, request):
    with store_url(backend, request) as url:
        ws = Workspace(settings=Settings(data_dir=tmp_path / "data", store={"url": url}), embedder=embedder)
        records = [("contract", ("eng", "legal")), ("handbook", ())]
        for doc_id, groups in records:  # the operator's, as `ragwright ingest` makes them
            record = TextRecord(id=doc_id, text=f"The {doc_id}.", title=doc_id)
            ws.ingest_records([record], access=Access("acme", groups))
        admin = _bearer(ws, ["read", "write", "admin"], [])
        eng = _bearer(ws, ["read", "write"], ["eng"])
        both = _bearer(ws, ["read", "write"], ["eng", "legal"])
        legal = _bearer(ws, ["read"], ["legal"])
        with TestClient(create_app(workspace=ws)) as c:
            shared = _upload(c, admin, "shared.md", "eng,legal")
            mine = _upload(c, eng, "mine.md", "eng")
            assert _listed(c, legal) == {"contract", "handbook", shared}
            for doc_id in ("contract", "handbook", shared):
                refused = c.delete(f"/v1/documents/{doc_id}", headers=eng)
                assert refused.status_code == 403, refused.text
            assert "legal" in refused.json()["error"]["message"]  # says which group it lacks
            assert "admin" in c.delete("/v1/documents/handbook", headers=both).json()["error"]["message"]
            assert _listed(c, legal) == {"contract", "handbook", shared}  # nothing was taken from legal
            assert c.delete(f"/v1/documents/{mine}", headers=eng).status_code == 200
            assert c.delete(f"/v1/documents/{shared}", headers=both).status_code == 200
            assert c.delete("/v1/documents/contract", headers=admin).status_code == 200
            assert _listed(c, legal) == {"handbook"}
        ws.close()
