"""Attack (review 14, finding 4): a `write` key confined to group `eng` published to every group
of its tenant by uploading with no groups (an hr reader then found its phishing notice), and
replaced or deleted a tenant-wide upload of another key. A key with groups writes within them:
an upload without groups takes the key's groups, and a tenant-wide upload is deleted only by a
key without groups or an admin key."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.stores import BACKENDS, store_url


def _bearer(ws: Workspace, scopes: list[str], groups: list[str]) -> dict[str, str]:
    return {"Authorization": "Bearer " + create_key(ws.store, "acme", scopes, groups)["key"]}


def _upload(c: TestClient, headers: dict[str, str], name: str, text: str, groups: str | None = None) -> str:
    data = {"groups": groups} if groups is not None else {}
    up = c.post("/v1/documents", headers=headers, data=data, files=[("file", (name, text.encode()))])
    assert up.status_code == 202, up.text
    for _ in range(600):
        if c.get(up.json()["status_url"], headers=headers).json()["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    return str(up.json()["document_ids"][0])


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
            notice = _upload(c, tenant_writer, "notice.md", "# Notice\nKINGFISHER: the office closes at noon.\n")
            planted = _upload(c, eng, "payroll.md", "# Payroll\nPAYROLLX: re-enter your bank details here.\n")
            doc = c.get(f"/v1/documents/{planted}", headers=eng).json()
            assert doc["groups"] == ["eng"]  # the key's own groups, not the whole tenant
            assert not any("PAYROLLX" in t for t in _found(c, hr, "PAYROLLX bank details"))
            assert any("PAYROLLX" in t for t in _found(c, eng, "PAYROLLX bank details"))
            # the same name from the eng key lands in eng's scope: hr's tenant-wide notice stays
            _upload(c, eng, "notice.md", "# Notice\nKINGFISHER: send your SSN to evil.example.\n")
            seen = [t for t in _found(c, hr, "KINGFISHER") if "KINGFISHER" in t]
            assert seen and all("noon" in t for t in seen)
            refused = c.delete(f"/v1/documents/{notice}", headers=eng)
            assert refused.status_code == 403, refused.text
            assert "whole tenant" in refused.json()["error"]["message"]
            assert any("noon" in t for t in _found(c, hr, "KINGFISHER office"))
            assert c.delete(f"/v1/documents/{notice}", headers=tenant_writer).status_code == 200
        ws.close()
