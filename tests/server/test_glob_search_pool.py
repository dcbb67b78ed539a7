"""Review 15b, finding 2 (h_glob_threadpool.py): a search holding a `source` pattern went to
anyio's default thread pool (40 threads, shared with every sync endpoint), and its cost is
(documents the key may read) x (source length). One read key sending ~40 costly filters at once
took the pool: another tenant's GET /v1/documents went from 13 ms to 16.3 s. Now such searches
run on a few threads of their own (waiting on the loop), and the store takes one of the process's
glob slots, so the pool, and the other tenants, stay free."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.store.contract.backends import document

N_DOCS = 300
N_PAR = 44
CLASS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&"  # none of it in the sources


def _costly(tag: int) -> list[str]:
    """The review's filter, fresh per request (the allowed rows are kept per filter)."""
    return ["*" + ("[^" + CLASS + "]") * 7 + f"@{tag:04d}{i}" for i in range(8)]


@pytest.fixture
def served(tmp_path, embedder):
    ws = Workspace(settings=Settings(data_dir=tmp_path / "data"), embedder=embedder)
    long = "/x/" + "a" * 180
    ws.store.write_documents(
        [document(f"d{i}", [f"note {i}"], tenant="evil", dim=embedder.dim, source=f"{long}{i}") for i in range(N_DOCS)]
        + [document("h", ["quarterly sales"], tenant="acme", dim=embedder.dim, source="/acme/handbook.md")]
    )
    ws.store.warm()
    evil = create_key(ws.store, "evil", ["read"])["key"]
    acme = create_key(ws.store, "acme", ["read"])["key"]
    with TestClient(create_app(workspace=ws)) as client:
        yield client, {"Authorization": f"Bearer {evil}"}, {"Authorization": f"Bearer {acme}"}
    ws.close()


def test_another_tenant_stays_fast_while_many_glob_searches_run(served):
    client, evil, acme = served
    assert client.get("/v1/documents", headers=acme).status_code == 200
    statuses: list[int] = []
    started = time.monotonic()

    def search(tag: int) -> None:
        body = {"query": "note", "mode": "bm25", "filters": {"source": _costly(tag)}}
        statuses.append(client.post("/v1/search", json=body, headers=evil).status_code)

    workers = [threading.Thread(target=search, args=(tag,)) for tag in range(N_PAR)]
    for w in workers:
        w.start()
    time.sleep(0.5)  # the searches are all in
    listings = []
    for _ in range(3):
        begun = time.monotonic()
        res = client.get("/v1/documents", headers=acme)
        listings.append(time.monotonic() - begun)
        assert res.status_code == 200 and [d["doc_id"] for d in res.json()["documents"]] == ["h"], res.text[:300]
    begun = time.monotonic()  # acme's own pattern search: evil's queue holds only evil's share of the slots
    res = client.post("/v1/search", json={"query": "sales", "filters": {"source": ["/acme/*.md"]}}, headers=acme)
    own_glob = time.monotonic() - begun
    assert res.status_code == 200 and [r["doc_id"] for r in res.json()["results"]] == ["h"], res.text[:300]
    busy = sum(w.is_alive() for w in workers)
    for w in workers:
        w.join(120)
    took = time.monotonic() - started
    shown = [round(s, 3) for s in listings]
    print(f"{N_PAR} glob searches {took:.2f} s; acme's listings {shown} s, glob {own_glob:.3f} s")
    assert busy > N_PAR // 2, busy  # the listings ran while most searches were still waiting or running
    assert statuses.count(200) == N_PAR, statuses  # queued on the loop, not refused
    assert max(listings) < 0.5 and max(listings) < took / 4, (listings, took)  # before: the searches' whole run
    assert own_glob < 0.5 and own_glob < took / 4, (own_glob, took)  # before: behind evil's 44 in one queue
