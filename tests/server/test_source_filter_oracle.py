"""SECURITY.md promises no server path in a response; the `source` filter was matched (GLOB)
against the stored server path, so a read key recovered the data dir one character at a time
from whether a search found anything. Now it is matched against the source as responses show it."""

from __future__ import annotations

import string
import time

from fastapi.testclient import TestClient

from ragwright import Settings, Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key

ALPHABET = string.ascii_letters + string.digits + "/._-<> "


def test_the_source_filter_does_not_spell_out_the_server_path(tmp_path, embedder):
    ws = Workspace(settings=Settings(data_dir=tmp_path / "data"), embedder=embedder)
    key = create_key(ws.store, "acme", ["read", "write"], [])["key"]
    with TestClient(create_app(workspace=ws), headers={"Authorization": f"Bearer {key}"}) as c:
        up = c.post("/v1/documents", files=[("file", ("notes.md", b"# Notes\nVacation is 25 days.\n"))]).json()
        for _ in range(300):
            if c.get(f"/v1/jobs/{up['job_id']}").json()["status"] in ("done", "failed"):
                break
            time.sleep(0.1)

        def hits(pattern: str) -> bool:
            body = {"query": "vacation", "k": 1, "mode": "bm25", "filters": {"source": pattern}}
            return bool(c.post("/v1/search", json=body).json()["results"])

        shown = c.post("/v1/search", json={"query": "vacation", "k": 1, "mode": "bm25"}).json()["results"][0]
        assert shown["source"] == "notes.md"
        found = ""
        for _ in range(40):
            nxt = next((ch for ch in ALPHABET if hits(found + ch + "*")), None)
            if nxt is None:
                break
            found += nxt
        assert found == "notes.md"  # what the key is shown, never tmp_path's characters
        assert not hits(str((tmp_path / "data").resolve()) + "*")
        assert hits("notes.md") and hits("*.md") and not hits("notes")
    ws.close()
