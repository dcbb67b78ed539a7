"""The gateway's caches, reached through the API, keep one reader's replies from another: with the
semantic cache on, another key of the tenant (another group) was served the follow-up rewriter's
reply made from an HR key's conversation about another person, and a negated Russian question
the reply to the plain one. Keys of the same groups still share their entries."""

# ruff: noqa: RUF001  (Russian text)

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from ragwright import Workspace
from ragwright.config import load_settings
from ragwright.ingest import TextRecord
from ragwright.server import create_app
from ragwright.server.auth import create_key
from ragwright.types import Access
from tests.provider_server import ProviderServer

HR = [("user", "Когда уволят Ивана Петрова из бухгалтерии?"), ("assistant", "В марте [1]."), ("user", "А его премию?")]
OTHER = [
    ("user", "Когда уволят Марию Сидорову из бухгалтерии?"),
    ("assistant", "Не знаю [1]."),
    ("user", "А её премию?"),
]


def rewriting_model(body: dict) -> str:
    """A rewriter that carries the conversation's first question over, as it is asked to."""
    prompt = body["messages"][-1]["content"]
    if "Standalone question:" in prompt:
        first = re.search(r"User: (.*)", prompt)
        last = re.search(r"Last question: (.*)", prompt)
        assert first and last
        return f"{last.group(1)} ({first.group(1)})"
    return "I don't know."


@contextmanager
def served(tmp_path: Path, embedder, provider: ProviderServer) -> Iterator[Workspace]:
    config = tmp_path / "ragwright.toml"
    config.write_text(
        '[gateway]\nsemantic_cache = true\n\n[answer]\nmodel = "fake"\n\n'
        f'[models.fake]\nbase_url = "{provider.base_url}/v1"\nmodel = "m"\n'
    )
    ws = Workspace(settings=load_settings(config, tmp_path / "data"), embedder=embedder)
    try:
        yield ws
    finally:
        ws.close()


def client(ws: Workspace, tenant: str, groups: tuple[str, ...] = ()) -> TestClient:
    key = create_key(ws.store, tenant, ["read"], list(groups))["key"]
    return TestClient(create_app(workspace=ws), headers={"Authorization": f"Bearer {key}"})


def chat(c: TestClient, model: str, turns: list[tuple[str, str]]) -> dict:
    messages = [{"role": r, "content": t} for r, t in turns]
    res = c.post("/v1/chat/completions", json={"model": model, "messages": messages})
    assert res.status_code == 200, res.text
    return res.json()


def test_another_keys_conversation_is_not_searched_for(tmp_path, embedder):
    with ProviderServer(reply=rewriting_model) as provider, served(tmp_path, embedder, provider) as ws:
        ws.ingest_records([TextRecord(id="a", text="Столовая открыта с полудня до двух.")], access=Access("acme"))
        with client(ws, "acme", ("hr",)) as hr, client(ws, "acme") as other:
            assert "Иван" in chat(hr, "rag:default", HR)["rewritten_question"]
            got = chat(other, "rag:default", OTHER)["rewritten_question"]
    assert "Иван" not in got and "Мари" in got


def test_a_negated_question_in_another_script_gets_its_own_reply(tmp_path, embedder):
    """Plain gateway chat, one tenant, two groups: the provider echoes the question."""
    with (
        ProviderServer() as provider,
        served(tmp_path, embedder, provider) as ws,
        client(ws, "acme", ("hr",)) as hr,
        client(ws, "acme") as other,
        client(ws, "acme") as same,
    ):
        chat(hr, "fake", [("user", "Ивана уволят в марте?")])
        for c in (other, hr):  # another reader, and the same reader with the opposite question
            reply = chat(c, "fake", [("user", "Ивана не уволят в марте?")])
            assert reply["choices"][0]["message"]["content"] == "echo: Ивана не уволят в марте?"
        calls = provider.count()
        again = chat(same, "fake", [("user", "ивана не уволят в марте")])  # another key of other's groups
        assert again["choices"][0]["message"]["content"] == "echo: Ивана не уволят в марте?"
        assert provider.count() == calls  # served from the cache that key's groups share
