"""Conversations through the OpenAI-compatible API: a `rag:` chat reads the earlier messages, so a
follow-up ("What happens if its maxsize is None?") is searched for as the standalone question it
stands for, by the answer model when there is one and by the carry-over otherwise; the response
and the trace say what was searched for. `/v1/models` lists what a chat may name, and `usage` is
filled for `rag:` answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openai
import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.generate.test_followup import records
from tests.provider_server import ProviderServer, status

FIRST = "What does functools.lru_cache do?"
FOLLOW_UP = "What happens if its maxsize is None?"
CARRIED = "What happens if functools.lru_cache's maxsize is None?"
MODEL_REWRITE = "What happens if the maxsize of functools.lru_cache is None?"
GROUNDED = "If maxsize is set to None, the LRU feature is disabled and the cache can grow without bound [1]."


def conversation(*turns: str) -> list[dict[str, str]]:
    roles = ["user", "assistant"] * len(turns)
    return [{"role": role, "content": text} for role, text in zip(roles, turns, strict=False)]


@contextmanager
def serving(tmp_path: Path, embedder, **settings) -> Iterator[tuple[TestClient, Workspace]]:
    """The twenty technical pages of tests/generate/test_followup.py behind an app, and a client
    whose key reads them and their traces."""
    ws = Workspace(settings=Settings(data_dir=tmp_path / "data", **settings), embedder=embedder)
    ws.ingest_records(records())
    key = create_key(ws.store, "default", ["read"], [])["key"]
    with TestClient(create_app(workspace=ws), headers={"Authorization": f"Bearer {key}"}) as client:
        yield client, ws
    ws.close()


@pytest.fixture(scope="module")
def extractive(tmp_path_factory, embedder):
    with serving(tmp_path_factory.mktemp("conversation"), embedder) as served:
        yield served


def chat(client: TestClient, messages: list[dict[str, str]], **extra) -> dict:
    res = client.post("/v1/chat/completions", json={"model": "rag:default", "messages": messages, **extra})
    assert res.status_code == 200, res.text
    return res.json()


def cited_page(reply: dict) -> str:
    return reply["citations"][0]["text"]


def test_a_follow_up_is_searched_for_with_the_previous_questions_subject(extractive):
    client, _ = extractive
    alone = chat(client, conversation(FOLLOW_UP))
    assert alone["rewritten_question"] == FOLLOW_UP
    assert "queue" in cited_page(alone).lower()  # on its own, "its maxsize" is queue.Queue's: the history matters
    reply = chat(client, conversation(FIRST, "It memoizes a function's most recent calls [1].", FOLLOW_UP))
    assert reply["rewritten_question"] == CARRIED
    assert "lru_cache" in cited_page(reply) and "grow without bound" in cited_page(reply)
    # system messages and a trailing assistant message are no part of the question
    reply = chat(
        client,
        [
            {"role": "system", "content": "Be brief."},
            *conversation(FIRST, "...", FOLLOW_UP),
            {"role": "assistant", "content": ""},
        ],
    )
    assert reply["rewritten_question"] == CARRIED


def test_the_trace_keeps_the_question_asked_and_the_one_searched_for(extractive):
    client, _ = extractive
    reply = chat(client, conversation(FIRST, "It memoizes calls [1].", FOLLOW_UP))
    trace = client.get(f"/v1/traces/{reply['trace_id']}").json()
    assert trace["input"]["question"] == FOLLOW_UP
    assert trace["input"]["rewritten_question"] == CARRIED and trace["input"]["rewrite"] == "carry-over"
    retrieve = next(s for s in trace["spans"] if s["name"] == "retrieve")
    assert CARRIED in json.dumps(retrieve["attributes"])  # retrieval ran on the standalone question


def test_ask_takes_the_conversation_too(extractive):
    client, _ = extractive
    body = {
        "question": FOLLOW_UP,
        "history": [{"role": "user", "content": FIRST}, {"role": "assistant", "content": "It memoizes calls."}],
    }
    answer = client.post("/v1/ask", json=body).json()
    assert answer["question"] == CARRIED and "lru_cache" in answer["citations"][0]["text"]
    bad = client.post("/v1/ask", json={**body, "history": [{"role": "system", "content": "x"}]})
    assert bad.status_code == 422


def test_usage_of_an_extractive_answer_counts_its_text(extractive):
    client, ws = extractive
    reply = chat(client, conversation(FIRST))
    usage = reply["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    answer = reply["choices"][0]["message"]["content"].split("\n\nSources:")[0]
    assert usage["completion_tokens"] == ws.embedder.count_tokens([answer])[0]
    question_and_passages = [FIRST, *dict.fromkeys(c["text"] for c in reply["citations"])]
    assert usage["prompt_tokens"] == sum(ws.embedder.count_tokens(question_and_passages))


def test_a_streamed_rag_answer_ends_with_usage_and_the_rewritten_question(extractive):
    client, _ = extractive
    body = {"model": "rag:default", "messages": conversation(FIRST, "...", FOLLOW_UP), "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as res:
        chunks = [json.loads(line[6:]) for line in res.iter_lines() if line.startswith("data: {")]
    assert chunks[-1]["rewritten_question"] == CARRIED
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


# -- with an answer model: a loopback provider -------------------------------------------------------


def provider_reply(body: dict) -> str:
    """The rewrite prompt gets a standalone question; an answer prompt a sentence of the cited page."""
    last = body["messages"][-1]["content"]
    return MODEL_REWRITE if last.rstrip().endswith("Standalone question:") else GROUNDED


def provider_usage(body: dict, text: str) -> tuple[int, int]:
    return (100, 10) if text == MODEL_REWRITE else (300, 40)


@pytest.fixture(scope="module")
def generated(tmp_path_factory, embedder):
    with (
        ProviderServer(reply=provider_reply, usage=provider_usage) as provider,
        serving(
            tmp_path_factory.mktemp("generated"),
            embedder,
            answer={"model": "fake"},
            models={"fake": {"base_url": f"{provider.base_url}/v1", "model": "m", "max_retries": 0}},
            routes={"default": {"models": ["fake"]}},
            gateway={"cache": False},
        ) as (client, ws),
    ):
        yield client, ws, provider


def test_the_answer_model_rewrites_the_follow_up(generated):
    client, _, provider = generated
    reply = chat(client, conversation(FIRST, "It memoizes calls [1].", FOLLOW_UP))
    assert reply["rewritten_question"] == MODEL_REWRITE
    prompts = [r.body["messages"][-1]["content"] for r in provider.requests if r.path.endswith("/chat/completions")]
    rewrite_prompt = next(p for p in prompts if p.rstrip().endswith("Standalone question:"))
    assert f"User: {FIRST}" in rewrite_prompt and FOLLOW_UP in rewrite_prompt
    assert MODEL_REWRITE in prompts[-1]  # the answer was asked for the rewritten question
    assert "lru_cache" in reply["citations"][0]["text"]
    trace = client.get(f"/v1/traces/{reply['trace_id']}").json()
    assert trace["input"]["rewrite"] == "model" and trace["input"]["rewritten_question"] == MODEL_REWRITE
    # usage: the rewrite's call and the answer's, as the provider reported them
    assert reply["usage"] == {"prompt_tokens": 400, "completion_tokens": 50, "total_tokens": 450}


def test_a_failing_model_rewrite_falls_back_to_the_carry_over(generated):
    client, _, provider = generated
    provider.fail_next(status(503), on="/chat/completions")  # the rewrite's call; the answer's succeeds
    reply = chat(client, conversation(FIRST, "It memoizes calls [1].", FOLLOW_UP))
    assert reply["rewritten_question"] == CARRIED
    trace = client.get(f"/v1/traces/{reply['trace_id']}").json()
    assert trace["input"]["rewrite"] == "carry-over" and "model failed" in trace["input"]["rewrite_note"]
    assert reply["usage"]["prompt_tokens"] == 300 and reply["usage"]["total_tokens"] == 340


def test_models_are_listed_for_openai_clients(generated):
    client, _, _ = generated
    sdk = openai.OpenAI(
        base_url=f"{client.base_url}/v1", api_key=client.headers["Authorization"][7:], http_client=client, max_retries=0
    )
    models = sdk.models.list().data
    assert [(m.id, m.owned_by) for m in models] == [
        ("default", "ragwright"),
        ("fake", "openai"),
        ("rag:default", "ragwright"),
        ("rag:agent", "ragwright"),  # listed because [answer] model is set
    ]
    assert all(m.object == "model" and m.created > 0 for m in models)
    assert sdk.models.retrieve("rag:default").id == "rag:default"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("rag:nothing")
    completion = sdk.chat.completions.create(model="rag:default", messages=conversation(FIRST))
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens > 0
    assert "127.0.0.1" not in client.get("/v1/models").text  # a model's address is not shown


def test_models_need_a_key(generated):
    client, _, _ = generated
    for path in ("/v1/models", "/v1/models/rag:default"):
        assert client.get(path, headers={"Authorization": "Bearer rw_nothing"}).status_code == 401
