"""`ragwright serve --workers N`: worker processes share the store, the job queue and the rate
limits, so that scaling to the cores changes nothing a client can see."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from ragwright.server.auth import Bucket, RateLimiter, take_token
from ragwright.store.ratelimits import SharedBuckets

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
                reply = c.post(
                    "/v1/documents",
                    files={"file": (f"note{i}.md", f"# Note {i}\n\nThe code word is zebra{i}.\n".encode())},
                )
                assert reply.status_code == 202, reply.text
                jobs.append(reply.json()["job_id"])
        with server.client(writer) as c:
            finished = [server.wait_job(c, j) for j in jobs]
            assert len(c.get("/v1/documents").json()["documents"]) == 6
        # each job ran once, by the one runner: a second run would have found the file unchanged
        assert [(j["status"], j["result"]["ingested"], j["result"]["unchanged"]) for j in finished] == [
            ("done", 1, 0)
        ] * 6
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
    a, b = SharedBuckets(tmp_path / "r.db"), SharedBuckets(tmp_path / "r.db")
    allowed = [limiter.take("k1", 6) is None for _ in range(6) for limiter in (a, b)]
    assert allowed.count(True) == 6
    wait = a.take("k1", 6)
    assert wait is not None and 0 < wait <= 10.5  # one token comes back every 10 s
    assert a.take("other", 6) is None and b.take("unlimited", None) is None


def test_both_limiters_share_one_token_bucket():
    """take_token is the arithmetic of the in-memory and the shared limiter alike."""
    bucket, waits = None, []
    for _ in range(7):  # a burst of the whole rate, then a wait for one token at 6 a minute
        bucket, wait = take_token(bucket, 6, 100.0)
        waits.append(wait)
    assert waits[:6] == [None] * 6 and waits[6] == pytest.approx(10.0)
    assert take_token(bucket, 6, 105.0)[1] == pytest.approx(5.0)  # half a token came back
    assert take_token(bucket, 6, 10_000.0)[0].tokens == 5.0  # refilled to a burst, no more, minus this one
    assert take_token(Bucket(0.0, 100.0), 6, 50.0)[1] == pytest.approx(10.0)  # a clock set back refills nothing
    memory = RateLimiter()
    assert [memory.take("k1", 6) is None for _ in range(7)] == [True] * 6 + [False]


def _workers(pid: int) -> list[int]:
    """The worker processes (not multiprocessing's resource tracker)."""
    return [c for c in _children(pid) if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]


def _connections_by_worker(server: LiveServer) -> dict[int, int]:
    """Established connections to the server's port, by the worker process holding them."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) == server.port and f[3] == "01":  # local port, ESTABLISHED
                inodes.add(f[9])
    out = {}
    for pid in _workers(server.proc.pid):
        fds = Path(f"/proc/{pid}/fd")
        held = [
            fd for fd in fds.iterdir() if fd.exists() and os.readlink(fd).removeprefix("socket:[").rstrip("]") in inodes
        ]
        out[pid] = len(held)
    return out


def test_connections_are_spread_evenly_and_a_dead_worker_is_replaced(tmp_path):
    """The supervisor hands each new connection to the worker holding the fewest: 20 long-lived
    connections split 10/10, where the kernel's random hashing gave splits like 14/6."""
    server = LiveServer(tmp_path / "data", workers=2).start()
    clients = []
    try:
        reader = server.key("acme", "read")
        for _ in range(20):
            c = server.client(reader)
            assert c.get("/v1/documents").status_code == 200  # opens and keeps its connection
            clients.append(c)
        split = sorted(_connections_by_worker(server).values())
        assert split == [10, 10], split
        victim = max(_workers(server.proc.pid))
        os.kill(victim, signal.SIGKILL)  # its 10 connections die with it
        deadline = time.monotonic() + 30
        while victim in _workers(server.proc.pid) or len(_workers(server.proc.pid)) < 2:
            assert time.monotonic() < deadline, "the supervisor did not start a new worker"
            time.sleep(0.1)
        for c in clients:
            c.close()
        with server.client(reader) as c:  # new connections are served whichever worker gets them
            for _ in range(4):
                assert c.get("/v1/documents").status_code == 200
    finally:
        for c in clients:
            c.close()
        assert server.stop() == 0


def test_a_stalled_worker_is_passed_over_not_waited_for():
    """A worker that reads nothing (stalled, or still starting) fills its channel; the supervisor
    then hands connections to the next worker instead of blocking its accepting thread."""
    import socket

    from ragwright.server.workers import _Balancer

    with socket.socket() as listener:
        balancer = _Balancer(listener, 2)
        stalled, stalled_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        healthy, healthy_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        for i, ours in enumerate((stalled, healthy)):
            ours.setblocking(False)
            balancer.attach(i, ours)
        balancer.given[1] = 10**6  # the healthy worker looks busier: the stalled one is tried first
        conns = [socket.socket() for _ in range(400)]  # more than the stalled channel holds
        try:
            for conn in conns:
                balancer._hand_over(conn)
            assert 0 < balancer.given[0] < 400 and balancer.given[0] + balancer.given[1] - 10**6 == 400
            healthy_end.setblocking(False)
            _, fds, _, _ = socket.recv_fds(healthy_end, 64, 64)
            assert len(fds) == 1 and all(os.close(fd) is None for fd in fds)
        finally:
            for s in (*conns, stalled, stalled_end, healthy, healthy_end):
                s.close()


def test_workers_leave_when_the_supervisor_is_killed(tmp_path):
    server = LiveServer(tmp_path / "data", workers=2).start()
    workers = _workers(server.proc.pid)
    assert len(workers) == 2
    server.proc.kill()  # SIGKILL: no chance to stop them
    server.proc.wait()
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() and b"zombie" not in _state(pid) for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived its supervisor"
        time.sleep(0.1)


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/status").read_bytes().lower()
    except OSError:
        return b"zombie"


def test_query_vectors_last_one_server_run(tmp_path):
    import numpy as np

    from ragwright.models.shared_vectors import SharedVectors

    data = tmp_path / "data"
    data.mkdir()
    old = SharedVectors(data / "query-vectors.db", "m", 2)
    old.put("a query from the last run", np.ones(2, np.float32))
    old.flush()
    assert old.get("a query from the last run") is not None
    server = LiveServer(data, workers=2).start()
    try:
        assert SharedVectors(data / "query-vectors.db", "m", 2).get("a query from the last run") is None
    finally:
        assert server.stop() == 0


def test_a_worker_that_keeps_dying_at_start_is_restarted_ever_more_slowly():
    from ragwright.server.workers import Restarts

    r = Restarts(1, quick_s=10, cap_s=60)
    r.started[0] = 0.0
    assert r.due(0, 1000.0)  # died after a long life: at once
    waits, now = [], 1000.0
    for _ in range(9):  # each new one dies within a second
        now += 1.0
        found_dead = now
        while not r.due(0, now):
            now += 0.25
        waits.append(now - found_dead)
    assert waits[:4] == [0.5, 1.0, 2.0, 4.0] and waits[-1] == 60.0
