"""Attack (on both backends): a read key searches with the filter field "source\n" set to a
guessed server path; the field passed the store's check but not the API's `source` wrapping, so
a hit confirmed the guessed data dir. "tenant\n" slipped past the API's refusal of `tenant` the
same way. Both are now a 422 at the API edge, whatever the guess."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.stores import BACKENDS, store_url


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_newline_after_a_field_name_is_no_path_oracle(tmp_path, embedder, backend, request):
    with store_url(backend, request) as url:
        ws = Workspace(settings=Settings(data_dir=tmp_path / "data", store={"url": url}), embedder=embedder)
        key = create_key(ws.store, "acme", ["read", "write"], [])["key"]
        with TestClient(create_app(workspace=ws), headers={"Authorization": f"Bearer {key}"}) as c:
            up = c.post("/v1/documents", files=[("file", ("notes.md", b"# Notes\nParking permits renew.\n"))]).json()
            for _ in range(600):
                if c.get(up["status_url"]).json()["status"] in ("done", "failed"):
                    break
                time.sleep(0.05)
            stored = ws.store.get_document(up["document_ids"][0]).source  # the server path, as guessed right
            for field, value in [("source\n", stored), ("tenant\n", "acme"), ("source\r", stored)]:
                res = c.post("/v1/search", json={"query": "parking", "mode": "bm25", "filters": {field: value}})
                assert res.status_code == 422, (field, res.status_code, res.text)
            hit = c.post("/v1/search", json={"query": "parking", "mode": "bm25", "filters": {"source": "notes.md"}})
            assert len(hit.json()["results"]) == 1
        with pytest.raises(ValueError):  # the library call as the operator: no field of that name either
            ws.search("parking", filters={"source\n": stored})
        ws.close()
