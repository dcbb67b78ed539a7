"""A rag: chat's question (its last user message) is held to [answer] max_question_chars before the
follow-up rewrite reads it (review 16, finding B): it had no bound there but the 1 MB body, and the
carry-over was quadratic in it (a 30,000-character message of "it it ..." ~35 s of CPU); with a
model, the rewriter was sent it, and a short rewrite let an overlong question through."""

from __future__ import annotations

import time

import pytest

from ragwright import TextRecord
from tests.provider_server import ProviderServer
from tests.server.served import answering, read_client


@pytest.fixture(scope="module")
def provider():
    with ProviderServer(reply=lambda body: "When are parking permits renewed?") as srv:
        yield srv


@pytest.mark.parametrize("question", [("it " * 10000)[:30000], "And is it renewed in January " + "x" * 4000])
def test_an_overlong_rag_chat_question_is_refused_before_the_rewrite(tmp_path, embedder, provider, question):
    ws = answering(tmp_path, embedder, provider, "off")
    ws.ingest_records([TextRecord(id="parking", text="Parking permits are renewed each January.", title="Parking")])
    client = read_client(ws, "default")
    n = provider.count()
    messages = [
        {"role": "user", "content": "Where do I get a parking permit?"},
        {"role": "assistant", "content": "At the front desk."},
        {"role": "user", "content": question},
    ]
    with client:
        start = time.monotonic()
        res = client.post("/v1/chat/completions", json={"model": "rag:default", "messages": messages})
        took = time.monotonic() - start
    ws.close()
    assert res.status_code == 400, res.text
    assert res.json()["error"]["type"] == "invalid_request" and "max_question_chars" in res.json()["error"]["message"]
    assert provider.count() == n  # the rewriter was not sent it
    assert took < 1.0
