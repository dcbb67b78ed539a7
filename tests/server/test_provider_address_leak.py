"""Review 15, finding 3: a failing model provider must not hand a read key its address or its
credentials. The model's base_url carries userinfo (a self-hosted server behind basic auth) on a
real loopback port; the provider is down, answers 401 (echoing the credentials and the address,
as a careless server does) or 500, or breaks a stream with an error event that quotes them. Every
path a key reads is checked: chat completions plain and streamed, a rag: model, /v1/ask plain and
streamed, MCP's ask tool, and the trace the key may read. Each names the model and the failure's
kind and none holds the password, the user, the host or the port; the server log keeps the URL
with its credentials masked."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, TextRecord, Workspace
from ragwright.config import AnswerSettings, GatewaySettings, ModelSettings, RouteSettings
from ragwright.server import create_app
from ragwright.server.auth import create_key
from ragwright.types import Access
from tests.provider_server import ProviderServer, status, stream_error

USER, PASSWORD = "svc-ragwright", "Hunter2-prod-pw"
HANDBOOK = "Holidays: every employee gets 25 days of paid holiday a year."
QUESTION = "How many days of paid holiday does an employee get?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def provider() -> Iterator[ProviderServer]:
    with ProviderServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def served(provider, tmp_path_factory, embedder) -> Iterator[Callable[[str], tuple[TestClient, int]]]:
    """`served(mode)`: a read key's client of a server whose only model, `primary`, is reached at
    http://USER:PASSWORD@127.0.0.1:PORT: nothing listening there ("down"), or the provider server
    speaking OpenAI's ("openai") or Anthropic's ("anthropic") protocol; and PORT."""
    made: dict[str, tuple[TestClient, int]] = {}
    with contextlib.ExitStack() as stack:

        def serve(mode: str) -> tuple[TestClient, int]:
            if mode not in made:
                made[mode] = stack.enter_context(server(mode, provider, tmp_path_factory.mktemp(mode), embedder))
            return made[mode]

        yield serve


@contextlib.contextmanager
def server(mode: str, provider: ProviderServer, root: Path, embedder: Any) -> Iterator[tuple[TestClient, int]]:
    port = free_port() if mode == "down" else provider.port
    settings = Settings(
        data_dir=root / "data",
        models={
            "primary": ModelSettings(
                provider="anthropic" if mode == "anthropic" else "openai",
                base_url=f"http://{USER}:{PASSWORD}@127.0.0.1:{port}" + ("" if mode == "anthropic" else "/v1"),
                model="m",
                timeout_s=5,
            )
        },
        routes={"default": RouteSettings(models=["primary"])},
        answer=AnswerSettings(model="default"),
        gateway=GatewaySettings(max_retries=0, cache=False, breaker_threshold=1000),
    )
    ws = Workspace(settings=settings, embedder=embedder)
    try:
        ws.ingest_records([TextRecord(id="handbook", text=HANDBOOK, title="handbook")], access=Access("acme"))
        key = create_key(ws.store, "acme", ["read"])["key"]
        with TestClient(create_app(workspace=ws)) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            yield client, port
    finally:
        ws.close()


def leaks(text: str, port: int) -> list[str]:
    """What of the provider's address and credentials `text` holds."""
    return [s for s in (PASSWORD, USER, "127.0.0.1", f":{port}", "localhost") if s in text]


def sse_text(client: TestClient, path: str, body: dict[str, Any]) -> tuple[int, str]:
    with client.stream("POST", path, json=body) as res:
        return res.status_code, "".join(res.iter_text())


def every_path(client: TestClient) -> dict[str, tuple[int, str]]:
    """The raw body of every path that may turn the model's failure into text for the key."""
    chat = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
    rag = {"model": "rag:default", "messages": [{"role": "user", "content": QUESTION}]}
    out = {}
    for name, (path, body) in {
        "chat": ("/v1/chat/completions", chat),
        "rag": ("/v1/chat/completions", rag),
        "ask": ("/v1/ask", {"question": QUESTION}),
    }.items():
        res = client.post(path, json=body)
        out[name] = (res.status_code, res.text)
    out["chat stream"] = sse_text(client, "/v1/chat/completions", {**chat, "stream": True})
    out["ask stream"] = sse_text(client, "/v1/ask", {"question": QUESTION, "stream": True})
    mcp = client.post(
        "/mcp",
        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"},
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "ask", "arguments": {"question": QUESTION}},
        },
    )
    out["mcp ask"] = (mcp.status_code, mcp.text)
    traces = client.get("/v1/traces?limit=50").json()["traces"]
    assert traces, "the key made traces it may read"
    out["traces"] = (200, json.dumps([client.get(f"/v1/traces/{t['trace_id']}").json() for t in traces]))
    return out


def check(client: TestClient, port: int, kind: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ragwright.models"):
        bodies = every_path(client)
    assert bodies["chat"][0] == 502 and "upstream_error" in bodies["chat"][1]
    assert bodies["ask"][0] == 200 and "Extractive answer: the model failed" in bodies["ask"][1]
    leaked = {name: found for name, (_, text) in bodies.items() if (found := leaks(text, port))}
    assert leaked == {}, (leaked, bodies)
    # each says which model failed and how
    unsaid = [name for name, (_, text) in bodies.items() if "primary" not in text or kind not in text]
    assert unsaid == [], (unsaid, bodies)
    # the operator's log keeps where it failed, the credentials masked
    logged = [r.getMessage() for r in caplog.records if r.name == "ragwright.models"]
    assert logged and all(f"http://***@127.0.0.1:{port}/" in line for line in logged), logged[:3]
    assert not any(PASSWORD in line or USER in line for line in logged), logged[:3]


def test_a_provider_that_is_down(served, caplog) -> None:
    client, port = served("down")
    check(client, port, "unreachable", caplog)


@pytest.mark.parametrize("mode", ["openai", "anthropic"])
@pytest.mark.parametrize("code", [401, 500])
def test_a_provider_that_answers_an_error_quoting_the_credentials(served, provider, caplog, mode, code) -> None:
    client, port = served(mode)
    echo = f"Incorrect credentials {USER}:{PASSWORD} for http://127.0.0.1:{port}/v1 (key sk-ab...{PASSWORD[-4:]})"
    provider.fail_always(status(code, body=echo))
    try:
        check(client, port, f"answered {code}", caplog)
    finally:
        provider.clear()


@pytest.mark.parametrize("mode", ["openai", "anthropic"])
def test_a_stream_broken_by_an_error_event_quoting_the_credentials(served, provider, caplog, mode) -> None:
    client, port = served(mode)
    provider.fail_always(stream_error(0, f"upstream {USER}:{PASSWORD}@127.0.0.1:{port} overloaded"))
    chat = {"model": "default", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    try:
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="ragwright.models"):
            code, text = sse_text(client, "/v1/chat/completions", chat)
        assert code == 200 and "inside the stream" in text and "primary" in text, text
        assert leaks(text, port) == [], text
        logged = " ".join(r.getMessage() for r in caplog.records if r.name == "ragwright.models")
        assert "inside the stream" in logged and PASSWORD not in logged and f"http://***@127.0.0.1:{port}/" in logged
    finally:
        provider.clear()


@pytest.mark.parametrize("mode", ["openai", "anthropic"])
def test_the_credentials_still_reach_the_provider(served, provider, mode) -> None:
    """Masking is for messages only: httpx still sends the URL's userinfo as basic auth."""
    client, _ = served(mode)
    provider.clear(requests=True)
    res = client.post(
        "/v1/chat/completions", json={"model": "default", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert res.status_code == 200, res.text
    sent = provider.last()
    assert sent is not None and sent.headers.get("authorization", "").startswith("Basic ")


def test_an_embedding_endpoint_that_fails_names_no_address(tmp_path: Path, caplog) -> None:
    """The same for an OpenAI-compatible embedding endpoint: a search's 502 and the agent's tool
    result read the error's text."""
    from ragwright.errors import ModelError
    from ragwright.models.openai_embedding import OpenAIEmbedder

    port = free_port()
    embedder = OpenAIEmbedder(f"http://{USER}:{PASSWORD}@127.0.0.1:{port}/v1", "e", timeout_s=2)
    with caplog.at_level(logging.WARNING, logger="ragwright.models"), pytest.raises(ModelError) as info:
        embedder.embed(["hello"])
    assert str(info.value).startswith("the embedding endpoint is unreachable (") and leaks(str(info.value), port) == []
    assert f"http://***@127.0.0.1:{port}/v1/embeddings" in info.value.detail and PASSWORD not in info.value.detail
    assert any(f"***@127.0.0.1:{port}" in r.getMessage() for r in caplog.records)
