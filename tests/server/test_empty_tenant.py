"""An abstention caused by having nothing to read says so. A new user ingested with the CLI (into
tenant "default"), asked with a key of tenant "acme", and was told "no indexed passage matches
the question": they rephrased, when the documents were simply not theirs to read."""

from fastapi.testclient import TestClient

from ragwright import Settings, TextRecord, Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key
from ragwright.types import Access

LEAVE = TextRecord(id="leave", text="Parental leave lasts 16 weeks at full pay.", title="Leave policy")


def test_a_key_of_a_tenant_with_no_documents_is_told_so(embedder, tmp_path):
    ws = Workspace(settings=Settings(data_dir=tmp_path / "d"), embedder=embedder)
    ws.ingest_records([LEAVE])  # what `ragwright ingest` does without --tenant: tenant "default"
    key = create_key(ws.store, "acme", ["read"], ["hr"])["key"]
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(workspace=ws)) as client:
        ask = client.post("/v1/ask", json={"question": "How long is parental leave?"}, headers=headers).json()
        chat = client.post(
            "/v1/chat/completions",
            headers=headers,
            json={"model": "rag:default", "messages": [{"role": "user", "content": "How long is parental leave?"}]},
        ).json()
    assert ask["abstained"] and ask["citations"] == []
    assert "this tenant has no documents yet" in ask["reason"] and "'acme'" in ask["reason"]
    assert "--tenant acme" in ask["reason"] and "no indexed passage matches" not in ask["answer"]
    assert "this tenant has no documents yet" in chat["choices"][0]["message"]["content"]


def test_once_the_tenant_has_documents_the_usual_answer_and_abstention_return(embedder, tmp_path):
    ws = Workspace(settings=Settings(data_dir=tmp_path / "d"), embedder=embedder)
    ws.ingest_records([LEAVE], access=Access("acme"))
    acme = {"access": Access("acme", ("hr",))}
    answer = ws.ask("How long is parental leave?", acme)
    assert not answer.abstained and "16 weeks" in answer.answer
    unrelated = ws.ask("zebra quokka xylophone", acme)  # documents exist: not the empty-tenant reason
    assert "no documents yet" not in unrelated.reason
    hidden = Workspace(settings=Settings(data_dir=tmp_path / "e"), embedder=embedder)
    hidden.ingest_records([LEAVE], access=Access("acme", ("finance",)))  # the tenant's, but not this key's groups
    assert "no documents yet that this key may read" in hidden.ask("How long is parental leave?", acme).reason


def test_an_empty_workspace_says_to_ingest_first(workspace):
    answer = workspace.ask("How long is parental leave?")
    assert answer.abstained and "there are no documents yet" in answer.reason and "ragwright ingest" in answer.reason
