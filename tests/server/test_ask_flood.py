"""Review 16: /v1/ask was a sync endpoint, so every ask held one of anyio's default 40 threads,
shared with every other sync endpoint, while its model answered. One tenant's ~40 slow asks took
them all: another tenant's listing and its own ask waited for the slow ones. Now asks take slots
of their own ([server] ask_threads, a tenant at most ask_threads_per_tenant of them), waited for
on the loop up to ask_wait_s, then 503 busy with Retry-After."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, Workspace
from ragwright.config import AnswerSettings, GatewaySettings, ModelSettings, RouteSettings, ServerSettings
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.provider_server import ProviderServer
from tests.server.slots_live import provider_reply
from tests.store.contract.backends import document

SLOW_S = 6.0  # the model's answer to the flooding tenant's questions
WAIT_S = 1.0  # [server] ask_wait_s
N_FLOOD = 40  # anyio's default thread pool


@pytest.fixture
def served(tmp_path, embedder):
    with ProviderServer(reply=provider_reply("Employees get a daily meal allowance [1].", SLOW_S)) as provider:
        settings = Settings(
            data_dir=tmp_path / "data",
            models={"m": ModelSettings(base_url=provider.base_url + "/v1", model="m", timeout_s=60)},
            routes={"default": RouteSettings(models=["m"])},
            answer=AnswerSettings(model="default"),
            gateway=GatewaySettings(max_retries=0, cache=False),
            server=ServerSettings(ask_wait_s=WAIT_S),
        )
        ws = Workspace(settings=settings, embedder=embedder)
        text = ["Employees travelling abroad get a daily meal allowance of 60 euros."]
        ws.store.write_documents(
            [
                document("e", text, tenant="evil", dim=embedder.dim, source="/evil/travel.md"),
                document("h", text, tenant="acme", dim=embedder.dim, source="/acme/travel.md"),
            ]
        )
        evil = create_key(ws.store, "evil", ["read"])["key"]
        acme = create_key(ws.store, "acme", ["read"])["key"]
        app = create_app(workspace=ws)
        with TestClient(app) as client:
            yield client, app, provider, {"Authorization": f"Bearer {evil}"}, {"Authorization": f"Bearer {acme}"}
        ws.close()


def test_one_tenants_slow_asks_leave_the_others_alone(served):
    client, app, provider, evil, acme = served
    assert client.get("/v1/documents", headers=acme).status_code == 200
    answered: list[tuple[int, float, dict, dict]] = []
    started = time.monotonic()

    def flood() -> None:
        res = client.post("/v1/ask", json={"question": "slow: what allowance abroad?"}, headers=evil)
        answered.append((res.status_code, time.monotonic() - started, dict(res.headers), res.json()))

    workers = [threading.Thread(target=flood) for _ in range(N_FLOOD)]
    for w in workers:
        w.start()
    assert provider.wait_for(8, timeout=30, path_suffix="/chat/completions")  # evil's asks are with the model
    time.sleep(0.3)
    listings: list[float] = []
    own: list[float] = []

    def list_documents() -> None:
        for _ in range(3):
            begun = time.monotonic()
            res = client.get("/v1/documents", headers=acme)
            listings.append(time.monotonic() - begun)
            assert res.status_code == 200 and [d["doc_id"] for d in res.json()["documents"]] == ["h"], res.text[:300]

    def ask() -> None:
        begun = time.monotonic()
        res = client.post("/v1/ask", json={"question": "What meal allowance abroad?"}, headers=acme)
        own.append(time.monotonic() - begun)
        assert res.status_code == 200 and res.json()["citations"][0]["doc_id"] == "h", res.text[:300]

    acme_requests = [threading.Thread(target=list_documents), threading.Thread(target=ask)]
    for t in acme_requests:
        t.start()
    for t in acme_requests:
        t.join(120)
    own_ask = own[0]
    running = sum(w.is_alive() for w in workers)
    for w in workers:
        w.join(120)
    took = time.monotonic() - started
    ok = [a for a in answered if a[0] == 200]
    busy = [a for a in answered if a[0] == 503]
    print(
        f"{N_FLOOD} slow asks: {len(ok)} answered (last at {max((a[1] for a in ok), default=0):.2f} s), "
        f"{len(busy)} busy ({min((a[1] for a in busy), default=0):.2f}-{max((a[1] for a in busy), default=0):.2f} s); "
        f"acme's listings "
        f"{[round(s, 3) for s in listings]} s, its ask {own_ask:.3f} s; run {took:.2f} s"
    )
    assert len(listings) == 3 and max(listings) < 0.5, listings  # before: ~SLOW_S, behind evil's asks
    assert own_ask < 2.0, own_ask  # before: ~SLOW_S and more
    assert running > 0  # acme's requests ran while evil's asks were with the model
    # evil held its share (half of 16), each answered after the slow model; the rest waited
    # WAIT_S on the loop and were told the server is busy, with a Retry-After
    assert len(ok) == 8 and all(a[1] >= SLOW_S for a in ok), [(a[0], round(a[1], 2)) for a in answered]
    assert len(busy) == N_FLOOD - 8, [a[0] for a in answered]
    for _, at, headers, body in busy:
        assert WAIT_S <= at < WAIT_S + 2.0, at
        assert body["error"]["type"] == "busy" and "server.ask_threads_per_tenant" in body["error"]["message"]
        assert int(headers["retry-after"]) >= 1
    assert app.state.rw.asks.busy == 0  # every slot given back


def test_a_tenants_share_and_the_whole_bound_and_arrival_order(tmp_path):
    """The slots alone, on one loop: a tenant at its share waits while another takes a slot; a
    freed slot goes to the first waiter that may take it; a wait past wait_s is refused busy."""
    import asyncio

    from ragwright.server.ask_slots import AskSlots
    from ragwright.server.deps import ApiError

    async def scenario() -> list[str]:
        slots = AskSlots(threads=3, per_tenant=2, wait_s=0.5)
        log: list[str] = []
        await slots.take("a")
        await slots.take("a")
        waiting_a = asyncio.ensure_future(slots.take("a"))  # a at its share: waits
        await asyncio.sleep(0.05)
        await slots.take("b")  # b finds the third slot at once
        log.append(f"held a={slots.held('a')} b={slots.held('b')}")
        waiting_b = asyncio.ensure_future(slots.take("b"))  # all three held: b waits, behind a
        await asyncio.sleep(0.05)
        slots.give_back("b")  # a still at its share: the slot goes to b, the first that may take it
        await asyncio.wait_for(waiting_b, 1)
        log.append(f"b took it, a waiting={not waiting_a.done()}")
        try:
            await waiting_a
        except ApiError as exc:
            log.append(f"a refused {exc.status} {exc.type} {exc.headers}")
        slots.give_back("a")
        await asyncio.wait_for(slots.take("a"), 1)
        cancelled = asyncio.ensure_future(slots.take("c"))  # all held: c waits, then goes away
        await asyncio.sleep(0.05)
        log.append(f"busy={slots.busy}")
        cancelled.cancel()
        await asyncio.sleep(0)
        slots.give_back("a")  # nobody waits for it any more: it stays free
        await asyncio.sleep(0.05)
        log.append(f"busy={slots.busy} c={slots.held('c')}")
        for tenant in ("a", "b"):
            slots.give_back(tenant)
        log.append(f"end busy={slots.busy}")
        return log

    log = asyncio.run(scenario())
    assert log == [
        "held a=2 b=1",
        "b took it, a waiting=True",
        "a refused 503 busy {'Retry-After': '5'}",
        "busy=3",
        "busy=2 c=0",
        "end busy=0",
    ], log


def test_busy_tenants_leave_the_last_eighth_to_tenants_that_hold_none():
    """Review 16b, C: with half the slots each, two busy tenants held all 16 and a third got 503.
    Now a tenant that holds a slot takes another only while more than an eighth stay free."""
    import asyncio

    from ragwright.server.ask_slots import AskSlots
    from ragwright.server.deps import ApiError

    async def greedy(slots: AskSlots, tenant: str) -> int:
        taken = 0
        try:
            while True:
                await slots.take(tenant)
                taken += 1
        except ApiError:
            return taken

    async def scenario() -> tuple[int, ...]:
        slots = AskSlots(threads=16, per_tenant=0, wait_s=0.05)
        a, b = await greedy(slots, "a"), await greedy(slots, "b")
        c, d = await greedy(slots, "c"), await greedy(slots, "d")  # newcomers: one slot each
        e = await greedy(slots, "e")
        return a, b, c, d, e, slots.busy

    assert asyncio.run(scenario()) == (8, 6, 1, 1, 0, 16)  # before: (8, 8, 0, 0, 0, 16)
