"""The audit log's documents of an ask include every document a model read, not only the ones its
answer cites: a generated answer's context (and an agent's searches) went to the model, which may
repeat them uncited or in sentences the response shows as dropped."""

import json

from fastapi.testclient import TestClient

from ragwright import TextRecord, Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.generate.test_agent import agent_settings
from tests.provider_server import ProviderServer

LEAVE = TextRecord(id="leave", text="Parental leave lasts 16 weeks at full pay.", title="Leave policy")
EXTRA = TextRecord(id="extra", text="Parental leave requests go to the HR portal two months ahead.", title="Leave how")


def reply(body):
    """A model that read both passages and cites only the first."""
    return "Parental leave lasts 16 weeks [1]."


def asks_of(ws):
    return [a for a in ws.store.list_audit(limit=100) if a["endpoint"] in ("/v1/ask", "/v1/chat/completions")]


def test_the_audit_names_documents_the_model_read_but_the_answer_did_not_cite(tmp_path, embedder):
    with ProviderServer(reply=reply) as srv:
        ws = Workspace(settings=agent_settings(tmp_path / "d", srv), embedder=embedder)
        ws.ingest_records([LEAVE, EXTRA])
        key = {"Authorization": f"Bearer {create_key(ws.store, 'default', ['read'])['key']}"}
        with TestClient(create_app(workspace=ws)) as client:
            plain = client.post("/v1/ask", json={"question": "How long is parental leave?"}, headers=key)
            streamed = client.post(
                "/v1/ask", json={"question": "How long is parental leave?", "stream": True}, headers=key
            )
            chat = client.post(
                "/v1/chat/completions",
                json={"model": "rag:default", "messages": [{"role": "user", "content": "How long is parental leave?"}]},
                headers=key,
            )
        shown = json.dumps([r.body["messages"] for r in srv.requests])
        audit = asks_of(ws)
        ws.close()
    assert plain.status_code == streamed.status_code == chat.status_code == 200, (plain.text, chat.text)
    assert [c["doc_id"] for c in plain.json()["citations"]] == ["leave"]  # one cited ...
    assert "HR portal" in shown  # ... two read by the model
    assert len(audit) == 3
    for entry in audit:
        doc_ids = entry["doc_ids"] if isinstance(entry["doc_ids"], list) else json.loads(entry["doc_ids"])
        assert doc_ids == ["leave", "extra"], entry  # cited first, then read only


def test_an_extractive_ask_audits_the_documents_it_cites(tmp_path, embedder):
    """No model read anything: the documents touched are the cited ones, as before."""
    from ragwright import Settings

    ws = Workspace(settings=Settings(data_dir=tmp_path / "d"), embedder=embedder)
    ws.ingest_records([LEAVE, EXTRA])
    key = {"Authorization": f"Bearer {create_key(ws.store, 'default', ['read'])['key']}"}
    with TestClient(create_app(workspace=ws)) as client:
        res = client.post("/v1/ask", json={"question": "How long is parental leave?"}, headers=key)
    audit = asks_of(ws)
    ws.close()
    cited = [c["doc_id"] for c in res.json()["citations"]]
    doc_ids = audit[0]["doc_ids"] if isinstance(audit[0]["doc_ids"], list) else json.loads(audit[0]["doc_ids"])
    assert cited and doc_ids == cited
