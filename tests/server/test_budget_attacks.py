"""Review 13, finding 1, through the HTTP API: a key capped at $0.02 a day sent 20,000 emoji to
/v1/chat/completions and was billed $0.20 a call (the estimate counted them as one token); an
over-budget call answered HTTP 500, which clients retry at once; /v1/ask sent a 120,054-character
chunk to a model with an 8,192-token window. Now the call is refused before it is sent, with 429
budget_exceeded (streamed or not), and chunks are bounded."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, TextRecord, Workspace
from ragwright.config import AnswerSettings, BudgetSettings, GatewaySettings
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.models.test_token_bound import EMOJI, LIMIT, PRICE, priced_model
from tests.provider_server import ProviderServer, text_of


@pytest.fixture
def provider():
    """Bills what a real provider would: at least a token a character sent."""
    billed: list[float] = []
    lock = threading.Lock()

    def usage(body, text):
        n = sum(len(text_of(m.get("content"))) for m in body["messages"])
        with lock:
            billed.append((n + 20) * PRICE / 1e6)
        return (n, 20)

    with ProviderServer(reply=lambda b: "Parking permits are renewed each January [1].", usage=usage) as srv:
        srv.billed = billed
        yield srv


def capped(tmp_path, embedder, srv, context_window=128_000) -> tuple[Workspace, TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        models={"m": priced_model(srv, context_window)},
        answer=AnswerSettings(model="m"),
        budgets={"per_key": BudgetSettings(scope="key", limit_usd=LIMIT, period="day")},
        gateway=GatewaySettings(max_retries=0, cache=False),
    )
    ws = Workspace(settings=settings, embedder=embedder)
    client = TestClient(create_app(workspace=ws))
    client.headers["Authorization"] = "Bearer " + create_key(ws.store, "t1", ["read", "write"])["key"]
    return ws, client


@pytest.mark.parametrize("stream", [False, True])
def test_an_emoji_flood_is_refused_with_429_before_it_is_sent(tmp_path, embedder, provider, stream):
    ws, client = capped(tmp_path, embedder, provider)
    body = {"model": "m", "max_tokens": 16, "stream": stream, "messages": [{"role": "user", "content": EMOJI * 20_000}]}
    with client:
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 429, r.text  # was 200 and $0.20 billed, then 500 once over
        assert r.json()["error"]["type"] == "budget_exceeded" and "per_key" in r.json()["error"]["message"]
        assert 1 <= int(r.headers["Retry-After"]) <= 86_400  # the day's budget starts again at midnight UTC
        assert provider.count() == 0 and provider.billed == []
        small = {**body, "messages": [{"role": "user", "content": "Say hello"}]}
        assert client.post("/v1/chat/completions", json=small).status_code == 200  # the key is not locked out
    ws.close()


def test_a_blob_document_is_not_sent_whole_to_a_small_window(tmp_path, embedder, provider):
    ws, client = capped(tmp_path, embedder, provider, context_window=8192)
    blob = "Parking permits are renewed each January. Attachment: " + EMOJI * 120_000
    ws.ingest_records([TextRecord(id="parking", text=blob, title="parking")])
    chunks = ws.store.chunk_texts("parking")
    assert len(chunks) > 1 and max(len(t.encode()) for t in chunks) <= 240 * 8  # was one chunk of 120,054
    with client:
        r = client.post("/v1/ask", json={"question": "When are parking permits renewed?"})
    assert r.status_code == 200
    sent = [sum(len(text_of(m.get("content")).encode()) for m in q.body["messages"]) for q in provider.requests]
    assert all(n <= 8192 for n in sent)  # was 120,374 characters
    assert sum(provider.billed) <= LIMIT  # was $0.60
    ws.close()


def test_the_openapi_schema_documents_budget_exceeded(tmp_path, embedder, provider):
    ws, client = capped(tmp_path, embedder, provider)
    schema = client.get("/openapi.json").json()
    assert "budget_exceeded" in schema["components"]["responses"]["TooManyRequests"]["description"]
    ws.close()
