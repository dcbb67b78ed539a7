"""Attack: a `write` key of group `eng` deletes documents it could never have uploaded, a
document shared by `eng` and `legal` (taken from `legal`'s readers too) and one the operator
ingested, because DELETE checked only that the key could read them. A write key deletes what it
could upload (an upload all of whose groups it holds); the rest needs an admin key.

Review 14: a key confined to group `eng` also published to every group by uploading with no
groups (an hr reader found its notice), and replaced or deleted a tenant-wide upload of another
key. An upload naming no groups takes the key's own; a tenant-wide one is deleted only by a key
without groups or an admin key."""

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


def _upload(c: TestClient, headers: dict[str, str], name: str, groups: str | None, text: str = "# T\nText.\n") -> str:
    data = {"groups": groups} if groups is not None else {}
    up = c.post("/v1/documents", headers=headers, data=data, files=[("file", (name, text.encode()))])
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


def _found(c: TestClient, headers: dict[str, str], query: str) -> list[str]:
    hits = c.post("/v1/search", headers=headers, json={"query": query, "k": 5}).json()["results"]
    return [h["text"] for h in hits]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_group_key_writes_only_within_its_groups(tmp_path, embedder, backend, request):
    with store_url(backend, request) as url:
        ws = Workspace(settings=Settings(data_dir=tmp_path / "data", store={"url": url}), embedder=embedder)
        tenant_writer = _bearer(ws, ["read", "write"], [])
        eng = _bearer(ws, ["read", "write"], ["eng"])
        hr = _bearer(ws, ["read"], ["hr"])
        with TestClient(create_app(workspace=ws)) as c:
            notice = _upload(c, tenant_writer, "notice.md", None, "# Notice\nKINGFISHER: the office closes at noon.\n")
            planted = _upload(c, eng, "payroll.md", None, "# Payroll\nPAYROLLX: re-enter your bank details here.\n")
            doc = c.get(f"/v1/documents/{planted}", headers=eng).json()
            assert doc["groups"] == ["eng"]  # the key's own groups, not the whole tenant
            assert not any("PAYROLLX" in t for t in _found(c, hr, "PAYROLLX bank details"))
            assert any("PAYROLLX" in t for t in _found(c, eng, "PAYROLLX bank details"))
            # the same name from the eng key lands in eng's scope: hr's tenant-wide notice stays
            _upload(c, eng, "notice.md", None, "# Notice\nKINGFISHER: send your SSN to evil.example.\n")
            seen = [t for t in _found(c, hr, "KINGFISHER") if "KINGFISHER" in t]
            assert seen and all("noon" in t for t in seen)
            refused = c.delete(f"/v1/documents/{notice}", headers=eng)
            assert refused.status_code == 403, refused.text
            assert "whole tenant" in refused.json()["error"]["message"]
            assert any("noon" in t for t in _found(c, hr, "KINGFISHER office"))
            assert c.delete(f"/v1/documents/{notice}", headers=tenant_writer).status_code == 200
        ws.close()
