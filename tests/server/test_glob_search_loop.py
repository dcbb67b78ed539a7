"""Review 15, finding 4 (d_glob_blocks_event_loop.py): a bm25 search with current indexes ran on
the event loop, `source` patterns included, and SQLite's GLOB is matched against every document
the key may read: one read key's search of 100 patterns took 3.3 s over its own 150 documents
while /healthz, and every tenant, waited 2.8 s behind it. Now the patterns are bounded (a 422
naming the bound) and a search holding one runs on a worker thread."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key
from ragwright.store.globs import MAX_FILTER_GLOBS, MAX_GLOB_CHARS, MAX_GLOB_CLASS, check_globs
from tests.store.contract.backends import document

N_DOCS = 700


def _slowest_allowed() -> list[str]:
    """The costliest filter within the bounds for sources that are a long run of 'a': a star, then
    classes that all match 'a' (at their end), then a tail that fails."""
    pattern = "*" + ("[" + "b" * (MAX_GLOB_CLASS - 1) + "a]") * 7
    pattern += "z" * (MAX_GLOB_CHARS - len(pattern) - 1)
    patterns = [pattern + str(i) for i in range(MAX_FILTER_GLOBS)]
    check_globs(patterns)
    return patterns


@pytest.fixture
def served(tmp_path, embedder):
    ws = Workspace(settings=Settings(data_dir=tmp_path / "data"), embedder=embedder)
    long = "/x/" + "a" * 600  # sources a glob is matched against, all of the key's tenant
    ws.store.write_documents(
        [document(f"d{i}", [f"note {i}"], tenant="evil", dim=embedder.dim, source=f"{long}{i}") for i in range(N_DOCS)]
        + [document("h", ["quarterly sales are up"], tenant="acme", dim=embedder.dim, source="/acme/handbook.md")]
    )
    ws.store.warm()  # indexes current: a bm25 search took the event-loop path
    key = create_key(ws.store, "evil", ["read"])["key"]
    with TestClient(create_app(workspace=ws), headers={"Authorization": f"Bearer {key}"}) as client:
        yield client
    ws.close()


def test_healthz_answers_while_a_glob_search_runs(served):
    body = {"query": "note", "mode": "bm25", "filters": {"source": _slowest_allowed()}}
    done: dict[str, float] = {}

    def search() -> None:
        started = time.monotonic()
        res = served.post("/v1/search", json=body)
        done["s"] = time.monotonic() - started
        done["status"] = res.status_code
        done["results"] = len(res.json()["results"])

    worker = threading.Thread(target=search)
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert served.get("/healthz").status_code == 200
    healthz_s = time.monotonic() - started
    still_running = worker.is_alive()
    worker.join(60)
    assert done["status"] == 200 and done["results"] == 0
    assert done["s"] > 0.6, done  # a search long enough to show a wait (~1.5 s here)
    assert healthz_s < 0.5 and healthz_s < done["s"] / 3, (healthz_s, done)  # before: 1.15 s, after the search
    assert still_running, done
    print(f"glob search {done['s']:.2f} s, /healthz during it {healthz_s * 1000:.0f} ms")


def test_the_review_15_filter_is_a_422_naming_the_limit(served):
    attack = ["*[" + "!-!" * 330 + f"a{i:03d}]" for i in range(100)]
    started = time.monotonic()
    res = served.post("/v1/search", json={"query": "note", "mode": "bm25", "filters": {"source": attack}})
    assert res.status_code == 422 and time.monotonic() - started < 1.0
    assert res.json()["error"]["type"] == "invalid_request"
    assert f"filter 'source': at most {MAX_FILTER_GLOBS} patterns with * ? or [ (100 given)" in res.text
    assert f"a pattern has at most {MAX_GLOB_CHARS} characters (997 given)" in _search_one(served, attack[0]).text
    shorter = attack[0][:200] + "]"
    assert f"class holds at most {MAX_GLOB_CLASS} characters (198 given)" in _search_one(served, shorter).text


def _search_one(served, pattern: str):
    res = served.post("/v1/search", json={"query": "note", "mode": "bm25", "filters": {"source": [pattern]}})
    assert res.status_code == 422
    return res


def test_ordinary_glob_searches_still_answer(served):
    for source, hits in (["/x/*", 5], [["*1", "*2"], 5], ["/acme/*", 0], ["/x/a*[0-9]9", 5]):
        res = served.post("/v1/search", json={"query": "note", "k": 5, "mode": "bm25", "filters": {"source": source}})
        assert res.status_code == 200 and len(res.json()["results"]) == hits, (source, res.text[:300])
