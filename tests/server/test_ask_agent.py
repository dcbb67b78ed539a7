"""POST /v1/ask with "agent": true: the loop of generate/agent.py behind a key, whose permissions
the model's searches cannot widen; without an [answer] model, a 400 that names the setting."""

import json

from fastapi.testclient import TestClient

from ragwright import TextRecord, Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key
from ragwright.types import Access
from tests.generate.test_agent import agent_settings
from tests.provider_server import ProviderServer, tool_call

LEAVE = TextRecord(id="leave", text="Parental leave lasts 16 weeks at full pay.", title="Leave policy")
SALARY = TextRecord(id="salary", text="The board salary band tops out at 412,000 euros.", title="Board pay")


def reply(body):
    """Search first (the board's salary, asking for the board's group), then answer from it."""
    if not any(m["role"] == "tool" for m in body["messages"]):
        return [tool_call("search_documents", {"query": "board salary band leave", "filters": {"access": "board"}})]
    return "Parental leave lasts 16 weeks [1]."


def test_an_agent_ask_over_http_keeps_to_the_key(tmp_path, embedder):
    with ProviderServer(reply=reply) as srv:
        ws = Workspace(settings=agent_settings(tmp_path / "d", srv), embedder=embedder)
        ws.ingest_records([LEAVE])
        ws.ingest_records([SALARY], access=Access("default", ("board",)))
        staff = {"Authorization": f"Bearer {create_key(ws.store, 'default', ['read'], ['staff'])['key']}"}
        with TestClient(create_app(workspace=ws)) as client:
            res = client.post("/v1/ask", json={"question": "How long is leave?", "agent": True}, headers=staff)
            streamed = client.post(
                "/v1/ask", json={"question": "How long is leave?", "agent": True, "stream": True}, headers=staff
            )
        read = json.dumps([r.body["messages"] for r in srv.requests])  # everything the model was shown
        ws.close()
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["agent"]["status"] == "answered" and "16 weeks" in body["answer"]
    assert [c["doc_id"] for c in body["citations"]] == ["leave"]
    assert "16 weeks" in read and "412,000" not in read and "412,000" not in res.text
    assert streamed.status_code == 200 and "event: answer" in streamed.text and "412,000" not in streamed.text


def test_an_agent_ask_without_a_model_is_a_400_naming_the_setting(workspace):
    workspace.ingest_records([LEAVE])
    key = create_key(workspace.store, "default", ["read"])["key"]
    with TestClient(create_app(workspace=workspace)) as client:
        res = client.post(
            "/v1/ask", json={"question": "How long?", "agent": True}, headers={"Authorization": f"Bearer {key}"}
        )
    assert res.status_code == 400 and "[answer] model" in res.json()["error"]["message"]


def test_rag_agent_through_chat_completions(tmp_path, embedder):
    """model "rag:agent": the conversation's last question through the loop, with its citations,
    its steps and the usage of every model turn; listed by /v1/models when [answer] model is set."""
    with ProviderServer(reply=reply) as srv:
        ws = Workspace(settings=agent_settings(tmp_path / "d", srv), embedder=embedder)
        ws.ingest_records([LEAVE])
        headers = {"Authorization": f"Bearer {create_key(ws.store, 'default', ['read'])['key']}"}
        chat = {"model": "rag:agent", "messages": [{"role": "user", "content": "How long is leave?"}]}
        with TestClient(create_app(workspace=ws)) as client:
            res = client.post("/v1/chat/completions", json=chat, headers=headers)
            streamed = client.post("/v1/chat/completions", json={**chat, "stream": True}, headers=headers)
            models = [m["id"] for m in client.get("/v1/models", headers=headers).json()["data"]]
        turns = srv.count()
        ws.close()
    assert res.status_code == 200, res.text
    body = res.json()
    assert "16 weeks" in body["choices"][0]["message"]["content"] and body["citations"][0]["doc_id"] == "leave"
    assert body["agent"]["status"] == "answered" and len(body["agent"]["steps"]) == 2
    assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0
    assert streamed.status_code == 200 and "16 weeks" in streamed.text and '"agent"' in streamed.text
    assert turns == 4 and "rag:agent" in models and "rag:default" in models
