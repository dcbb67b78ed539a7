"""New-query searches run the model at most [server] search_threads at a time per worker, the
rest in arrival order (server/deps.py, ServerState.in_search_slot): handed to the thread pool as
they came, CPU-bound searches shared a core under the GIL and the slowest took 2.5-2.9x the median."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from ragwright import Settings, TextRecord, Workspace
from ragwright.server import create_app
from ragwright.server.auth import create_key
from ragwright.server.deps import ServerState


class Slow:
    """The session's embedder, 100 ms slower a call (the GIL released, as onnxruntime does), counting
    how many calls run at once and in which order the queries came."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.lock, self.running, self.most, self.order = threading.Lock(), 0, 0, []

    def embed(self, texts):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.order.extend(texts)
        time.sleep(0.1)
        try:
            return self.inner.embed(texts)
        finally:
            with self.lock:
                self.running -= 1


def _searches(tmp_path, embedder, threads: int, queries: list[str], stagger_s: float = 0.0) -> Slow:
    settings = Settings(data_dir=tmp_path / f"d{threads}")
    settings.server.search_threads = threads
    slow = Slow(embedder)
    ws = Workspace(settings=settings, embedder=slow)
    ws.ingest_records([TextRecord(id="leave", text="Parental leave lasts 16 weeks at full pay.")])
    slow.order.clear()
    key = create_key(ws.store, "default", ["read"])["key"]
    with TestClient(create_app(workspace=ws), headers={"Authorization": f"Bearer {key}"}) as client:

        def search(i: int) -> int:
            time.sleep(i * stagger_s)
            return client.post("/v1/search", json={"query": queries[i]}).status_code

        with ThreadPoolExecutor(len(queries)) as pool:
            assert list(pool.map(search, range(len(queries)))) == [200] * len(queries)
    ws.close()
    return slow


def test_at_most_search_threads_searches_run_the_model_at_once(tmp_path, embedder):
    queries = [f"how long is leave number {i}" for i in range(8)]
    assert _searches(tmp_path, embedder, 1, queries).most == 1
    assert _searches(tmp_path, embedder, 2, queries).most == 2
    assert _searches(tmp_path, embedder, 0, queries).most > 2  # 0 with a remote-like model: no limit


def test_waiting_searches_are_taken_in_arrival_order(tmp_path, embedder):
    queries = [f"how long is leave number {i}" for i in range(6)]
    slow = _searches(tmp_path, embedder, 1, queries, stagger_s=0.05)  # each 50 ms after the one before
    assert slow.order == queries


def test_the_in_process_model_gets_two_threads_by_default(tmp_path, embedder):
    ws = Workspace(settings=Settings(data_dir=tmp_path / "d"), embedder=embedder)
    assert ServerState(ws).search_threads == 2
    assert (
        ServerState(Workspace(settings=Settings(data_dir=tmp_path / "e"), embedder=Slow(embedder))).search_threads == 0
    )
    ws.close()
