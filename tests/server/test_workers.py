"""`ragwright serve --workers N`: worker processes share the store, the job queue and the rate
limits, so that scaling to the cores changes nothing a client can see."""

from __future__ import annotations

import time
from pathlib import Path

from ragwright.server.auth import SharedRateLimiter
from ragwright.server.jobs import JobRunner
from ragwright.workspace import Workspace

from .live import LiveServer


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_two_workers_serve_one_store(tmp_path):
    server = LiveServer(tmp_path / "data", workers=2).start()
    try:
        assert len(_children(server.proc.pid)) >= 2  # the supervisor and its two workers
        writer = server.key("acme", "read,write")
        jobs = []
        for i in range(6):  # a fresh connection each: uploads land on either worker
            with server.client(writer) as c:
                reply = c.post("/v1/documents", files={"file": (f"note{i}.md", f"# Note {i}\n\nThe code word is "
                                                                               f"zebra{i}.\n".encode())})
                assert reply.status_code == 202, reply.text
                jobs.append(reply.json()["job_id"])
        with server.client(writer) as c:
            finished = [server.wait_job(c, j) for j in jobs]
            assert len(c.get("/v1/documents").json()["documents"]) == 6
        # each job ran once, by the one runner: a second run would have found the file unchanged
        assert [(j["status"], j["result"]["ingested"], j["result"]["unchanged"]) for j in finished] == [("done", 1, 0)] * 6
        for i in range(6):  # every worker sees every document
            with server.client(writer) as c:
                hits = c.post("/v1/search", json={"query": f"zebra{i}", "k": 1, "mode": "bm25"}).json()["results"]
                assert f"zebra{i}" in hits[0]["text"]
        limited = server.key("acme", "read", rate=4)
        codes = []
        for _ in range(12):
            with server.client(limited) as c:
                codes.append(c.post("/v1/search", json={"query": "code word", "k": 1, "mode": "bm25"}).status_code)
        assert codes.count(200) <= 5 and codes.count(429) >= 7, codes  # 4 a minute across both workers (+1 refill)
    finally:
        assert server.stop() == 0


def test_shared_rate_limiter_counts_across_processes(tmp_path):
    """Two limiters on one file stand for two worker processes: together they allow the rate once."""
    a, b = SharedRateLimiter(tmp_path / "r.db"), SharedRateLimiter(tmp_path / "r.db")
    allowed = [limiter.take("k1", 6) is None for _ in range(6) for limiter in (a, b)]
    assert allowed.count(True) == 6
    wait = a.take("k1", 6)
    assert wait is not None and 0 < wait <= 10.5  # one token comes back every 10 s
    assert a.take("other", 6) is None and b.take("unlimited", None) is None


def test_one_job_runner_per_data_dir(tmp_path):
    """The runner holding the data dir's job lock runs the jobs; another one waits and takes over
    when the first stops."""
    ws = Workspace(tmp_path / "data")
    first, second = JobRunner(ws), JobRunner(ws)
    try:
        assert first._lead() and not second._lead()
        first.stop(timeout=1)
        deadline = time.monotonic() + 5
        while not second._lead():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        second.stop(timeout=1)
        ws.close()
