"""Replacing a document (a second upload of the same name for the same groups, the README's way to
update one) takes the old version's text out of everything derived from it, as deletion does:
the cached reply and the traces that quoted it stayed (tied to the document id, which survives),
readable by every admin of the tenant through /v1/traces, and the bytes stayed in the database
file. Someone who re-uploads a file to take a leaked secret out of it must not keep it served."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from ragwright import Workspace
from ragwright.config import load_settings
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.provider_server import ProviderServer

SECRET = "ZEBRA-4417"


def model(body: dict) -> str:
    prompt = body["messages"][-1]["content"]
    return f"The vault code is {SECRET} [1]." if SECRET in prompt else "I don't know."


def upload(c: TestClient, text: str) -> str:
    up = c.post("/v1/documents", files=[("file", ("vault.md", text.encode()))]).json()
    for _ in range(300):
        if c.get(f"/v1/jobs/{up['job_id']}").json()["status"] in ("done", "failed"):
            break
        time.sleep(0.1)
    return str(up["document_ids"][0])


def test_a_replaced_versions_text_is_gone_from_traces_caches_and_the_file(tmp_path, embedder):
    with ProviderServer(reply=model) as provider:
        config = tmp_path / "ragwright.toml"
        config.write_text(
            f'[answer]\nmodel = "fake"\n\n[models.fake]\nbase_url = "{provider.base_url}/v1"\nmodel = "m"\n'
        )
        ws = Workspace(settings=load_settings(config, tmp_path / "data"), embedder=embedder)
        app = create_app(workspace=ws)
        keys = [create_key(ws.store, "acme", scopes, [])["key"] for scopes in (["read", "write"], ["admin"])]
        writer, admin = (TestClient(app, headers={"Authorization": f"Bearer {k}"}) for k in keys)
        with writer, admin:
            first = upload(writer, f"# Vault\nThe vault code is {SECRET}. Change it monthly.\n")
            assert SECRET in writer.post("/v1/ask", json={"question": "What is the vault code?"}).json()["answer"]
            second = upload(writer, "# Vault\nThe vault code is kept by the facilities team. Change it monthly.\n")
            assert first == second  # replaced in place
            writer.post("/v1/ask", json={"question": "Who keeps the vault code?"})
            ws.store.flush_traces()
            traces = admin.get("/v1/traces", params={"limit": 100}).json()["traces"]
            assert traces  # the ask after the replacement, at least
            quoting = [t["trace_id"] for t in traces if SECRET in admin.get(f"/v1/traces/{t['trace_id']}").text]
        cached = [ns for ns, value in ws.store._all("SELECT namespace, value FROM cache_entries") if SECRET in value]
        ws.close()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("ragwright.db*"))
    assert not quoting and not cached and SECRET.encode() not in stored
