"""Review 16, gateway chats: a chat with a gateway route or model (not a `rag:` one) ran on anyio's
default 40 threads, shared with every sync endpoint, and a streamed one held its thread for its
whole life. One tenant's ~40 chats with a slow provider took them all: another tenant's listing and
its own chat waited for them. Now gateway chats take slots of their own ([server] chat_threads, a
tenant at most chat_threads_per_tenant of them), waited for on the loop up to chat_wait_s, then
503 busy with Retry-After."""

from __future__ import annotations

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, Workspace
from ragwright.config import GatewaySettings, ModelSettings, RouteSettings, ServerSettings
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.provider_server import ProviderServer
from tests.server.slots_live import provider_reply
from tests.store.contract.backends import document

SLOW_S = 6.0  # the provider's answer to the flooding tenant's chats
WAIT_S = 1.0  # [server] chat_wait_s
N_FLOOD = 40  # anyio's default thread pool
SHARE = 16  # half of chat_threads' default 32


@pytest.fixture
def served(tmp_path, embedder):
    with ProviderServer(reply=provider_reply("Hello there.", SLOW_S)) as provider:
        settings = Settings(
            data_dir=tmp_path / "data",
            models={"m": ModelSettings(base_url=provider.base_url + "/v1", model="m", timeout_s=60)},
            routes={"default": RouteSettings(models=["m"])},
            gateway=GatewaySettings(max_retries=0, cache=False),
            server=ServerSettings(chat_wait_s=WAIT_S),
        )
        ws = Workspace(settings=settings, embedder=embedder)
        ws.store.write_documents([document("h", ["Some text."], tenant="acme", dim=embedder.dim, source="/a.md")])
        evil = create_key(ws.store, "evil", ["read"])["key"]
        acme = create_key(ws.store, "acme", ["read"])["key"]
        app = create_app(workspace=ws)
        with TestClient(app) as client:
            yield client, app, provider, {"Authorization": f"Bearer {evil}"}, {"Authorization": f"Bearer {acme}"}
        ws.close()


def chat(content: str, stream: bool = False) -> dict:
    return {"model": "default", "messages": [{"role": "user", "content": content}], "stream": stream}


def said(text: str, stream: bool) -> str:
    """The reply's text: the message's, or its streamed deltas joined."""
    if not stream:
        return json.loads(text)["choices"][0]["message"]["content"]
    chunks = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


def test_one_tenants_slow_gateway_chats_leave_the_others_alone(served):
    client, app, provider, evil, acme = served
    assert client.get("/v1/documents", headers=acme).status_code == 200
    answered: list[tuple[int, float, dict, str, bool]] = []
    started = time.monotonic()

    def flood(stream: bool) -> None:
        res = client.post("/v1/chat/completions", json=chat("slow: hello?", stream), headers=evil)
        answered.append((res.status_code, time.monotonic() - started, dict(res.headers), res.text, stream))

    workers = [threading.Thread(target=flood, args=(i % 2 == 0,)) for i in range(N_FLOOD)]  # half streamed
    for w in workers:
        w.start()
    assert provider.wait_for(SHARE, timeout=30, path_suffix="/chat/completions")  # evil's chats are with it
    time.sleep(0.3)
    listings: list[float] = []
    own: list[float] = []

    def list_documents() -> None:
        for _ in range(3):
            begun = time.monotonic()
            res = client.get("/v1/documents", headers=acme)
            listings.append(time.monotonic() - begun)
            assert res.status_code == 200 and [d["doc_id"] for d in res.json()["documents"]] == ["h"], res.text[:300]

    def own_chat(stream: bool) -> None:
        begun = time.monotonic()
        res = client.post("/v1/chat/completions", json=chat("hello?", stream), headers=acme)
        own.append(time.monotonic() - begun)
        assert res.status_code == 200 and said(res.text, stream) == "Hello there.", res.text[:300]

    acme_requests = [threading.Thread(target=list_documents)] + [
        threading.Thread(target=own_chat, args=(s,)) for s in (False, True)
    ]
    for t in acme_requests:
        t.start()
    for t in acme_requests:
        t.join(120)
    running = sum(w.is_alive() for w in workers)
    for w in workers:
        w.join(120)
    took = time.monotonic() - started
    ok = [a for a in answered if a[0] == 200]
    busy = [a for a in answered if a[0] == 503]
    print(
        f"{N_FLOOD} slow chats: {len(ok)} answered ({sum(a[4] for a in ok)} streamed, last at "
        f"{max((a[1] for a in ok), default=0):.2f} s), {len(busy)} busy "
        f"({min((a[1] for a in busy), default=0):.2f}-{max((a[1] for a in busy), default=0):.2f} s); "
        f"acme's listings {[round(s, 3) for s in listings]} s, its chats {[round(s, 3) for s in own]} s; "
        f"run {took:.2f} s"
    )
    assert len(listings) == 3 and max(listings) < 0.5, listings  # before: ~SLOW_S, behind evil's chats
    assert len(own) == 2 and max(own) < 2.0, own  # before: ~SLOW_S and more
    assert running > 0  # acme's requests ran while evil's chats were with the provider
    # evil held its share (half of 32), each answered after the slow provider, streamed or not;
    # the rest waited WAIT_S on the loop and were told the server is busy, with a Retry-After
    assert len(ok) == SHARE and all(a[1] >= SLOW_S for a in ok), [(a[0], round(a[1], 2)) for a in answered]
    assert all(said(a[3], a[4]) == "Hello there." for a in ok)
    assert len(busy) == N_FLOOD - SHARE, [a[0] for a in answered]
    for _, at, headers, text, _ in busy:
        assert WAIT_S <= at < WAIT_S + 2.0, at
        assert '"busy"' in text and "server.chat_threads_per_tenant" in text, text[:300]
        assert int(headers["retry-after"]) >= 1
    assert app.state.rw.chats.busy == 0  # every slot given back
    assert app.state.rw.asks.busy == 0  # chats never took an ask's
