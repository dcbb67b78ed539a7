"""Deleting a document takes its text out of a conversation's traces in the caches too: the
follow-up rewriter's model call carried the earlier answer (quoting the document) but no sources,
so its cached replies, exact (the rewritten question quoting it) and semantic (the whole
conversation), were tied to no document and outlived DELETE /v1/documents/{id}, in the database
file and readable back through the cache."""

from __future__ import annotations

from fastapi.testclient import TestClient

from ragwright import Workspace
from ragwright.config import load_settings
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.provider_server import ProviderServer
from tests.server.test_replacement import upload

SECRET = "ZEBRA-4417"


def model(body: dict) -> str:
    prompt = body["messages"][-1]["content"]
    if "Standalone question:" in prompt:  # the rewriter carries the subject over, as it is asked to
        return f"How often is the vault code {SECRET} changed?" if SECRET in prompt else "How often?"
    return f"The vault code is {SECRET} [1]." if SECRET in prompt else "I don't know."


def test_a_deleted_documents_text_leaves_the_rewriters_cache(tmp_path, embedder):
    with ProviderServer(reply=model) as provider:
        config = tmp_path / "ragwright.toml"
        config.write_text(
            '[gateway]\nsemantic_cache = true\n\n[answer]\nmodel = "fake"\n\n'
            f'[models.fake]\nbase_url = "{provider.base_url}/v1"\nmodel = "m"\n'
        )
        ws = Workspace(settings=load_settings(config, tmp_path / "data"), embedder=embedder)
        key = create_key(ws.store, "acme", ["read", "write"], [])["key"]
        with TestClient(create_app(workspace=ws), headers={"Authorization": f"Bearer {key}"}) as c:
            vault = upload(c, f"# Vault\nThe vault code is {SECRET}. Change it monthly.\n")
            asked = [{"role": "user", "content": "What is the vault code?"}]
            first = c.post("/v1/chat/completions", json={"model": "rag:default", "messages": asked}).json()
            answer = first["choices"][0]["message"]["content"]
            assert SECRET in answer
            follow_up = [*asked, {"role": "assistant", "content": answer}, {"role": "user", "content": "How often?"}]
            second = c.post("/v1/chat/completions", json={"model": "rag:default", "messages": follow_up}).json()
            assert SECRET in second["rewritten_question"]
            assert c.delete(f"/v1/documents/{vault}").status_code == 200
        leftovers = [ns for ns, value in ws.store._all("SELECT namespace, value FROM cache_entries") if SECRET in value]
        ws.close()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("ragwright.db*"))
    assert not leftovers and SECRET.encode() not in stored
