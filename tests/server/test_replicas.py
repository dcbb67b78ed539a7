"""Issue 18, item 5: two real `ragwright serve` processes (two ports) on one PostgreSQL database
(RAGWRIGHT_STORE_URL) and one data dir. What one replica writes the other serves within 1 s: a
document, a revocation; each ingestion job runs in exactly one of them, and a job whose process is
killed with SIGKILL is finished by the other; a budget and a per-key rate limit hold across both."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import httpx
import pytest

from ragwright.server.auth import create_key
from ragwright.store.postgres import PostgresStore
from tests.provider_server import ProviderServer
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow
LEASE_S = 2.0  # the replicas' job lease (RAGWRIGHT_JOB_LEASE_S): a killed replica's job waits this long
PRICE = 1000.0  # USD per million tokens, in and out: a call of 11 + 7 tokens costs 0.018 USD
BUDGET_USD = 0.1


def _database(server_url: str) -> str:
    import psycopg

    name = f"replicas_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, postgres_url):
    root = tmp_path_factory.mktemp("replicas")
    url = _database(postgres_url)
    store = PostgresStore(url)  # what the test reads and writes beside the servers (as the CLI would)
    provider = ProviderServer(reply=lambda body: "a paid reply").start()
    config = root / "ragwright.toml"
    config.write_text(
        f'[models.paid]\nbase_url = "{provider.base_url}/v1"\nmodel = "test-model"\n'
        f"input_price_per_mtok = {PRICE}\noutput_price_per_mtok = {PRICE}\n\n"
        '[routes.default]\nmodels = ["paid"]\n\n[gateway]\ncache = false\n\n'
        f'[budgets.acme]\nscope = "tenant"\nsubject = "acme"\nlimit_usd = {BUDGET_USD}\nperiod = "day"\n'
    )
    env = {"RAGWRIGHT_STORE_URL": url, "RAGWRIGHT_JOB_LEASE_S": str(LEASE_S)}
    servers = [LiveServer(root / "data", config, env=env) for _ in range(2)]
    starting = [threading.Thread(target=s.start) for s in servers]
    for t in starting:
        t.start()
    for t in starting:
        t.join()
    try:
        assert all(s.proc is not None and s.proc.poll() is None for s in servers)
        yield servers, store, url
    finally:
        for s in servers:
            s.stop()
        store.close()
        provider.stop()


def _key(store, scopes: str = "read,write", rate: int | None = None) -> str:
    return create_key(store, "acme", scopes.split(","), rate_per_min=rate)["key"]


def _finds(client: httpx.Client, word: str) -> bool:
    res = client.post("/v1/search", json={"query": word, "k": 5, "mode": "bm25"})
    assert res.status_code == 200, res.text
    return any(word in r["text"] for r in res.json()["results"])


def _until(check, timeout: float, step: float = 0.02) -> float:
    """Seconds until check() is true; fails after `timeout`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"not within {timeout} s"
        time.sleep(step)
    return time.monotonic() - started


def test_a_document_uploaded_through_one_is_searchable_through_the_other_within_1_s(replicas):
    (a, b), store, _ = replicas
    key = _key(store)
    with a.client(key) as via_a, b.client(key) as via_b:
        assert not _finds(via_b, "quokkaferry")
        up = via_a.post("/v1/documents", files=[("file", ("ferry.md", b"# Ferry\n\nThe quokkaferry leaves at 9.\n"))])
        assert up.status_code == 202, up.text
        assert a.wait_job(via_a, up.json()["job_id"])["status"] == "done"
        seen_s = _until(lambda: _finds(via_b, "quokkaferry"), timeout=1.0)
    print(f"replicas: a document ingested through one was found through the other {seen_s * 1000:.0f} ms later")


def test_a_key_revoked_through_one_is_refused_by_the_other_within_1_s(replicas):
    (a, b), store, _ = replicas
    key = _key(store, "read")
    with a.client(key) as via_a, b.client(key) as via_b:
        assert via_a.get("/v1/documents").status_code == 200 and via_b.get("/v1/documents").status_code == 200
        key_id = next(k["key_id"] for k in store.list_api_keys() if k["revoked_at"] is None and k["scopes"] == ["read"])
        assert store.revoke_api_key(key_id)  # as `ragwright keys revoke` does, beside the replicas
        refused_s = _until(lambda: via_b.get("/v1/documents").status_code == 401, timeout=1.0)
        assert via_a.get("/v1/documents").status_code == 401
    print(f"replicas: a revoked key was refused by the other replica {refused_s * 1000:.0f} ms later")


def test_a_per_key_rate_limit_holds_across_both(replicas):
    """5 a minute, 12 requests alternating between the replicas: 5 pass. Each replica counting on
    its own would let 10 through."""
    (a, b), store, _ = replicas
    key = _key(store, "read", rate=5)
    with a.client(key) as via_a, b.client(key) as via_b:
        codes = [(via_a if i % 2 else via_b).get("/v1/documents").status_code for i in range(12)]
    assert codes.count(200) == 5 and codes.count(429) == 7, codes


def test_a_budget_holds_across_both(replicas):
    """20 chat calls at once, half through each replica, against one tenant budget of 0.1 USD:
    what is spent overshoots by at most one call (as on one server); a budget per replica would
    let about twice as many through."""
    (a, b), store, _ = replicas
    key = _key(store, "read")
    codes: list[int] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        server = a if i % 2 else b
        with server.client(key) as client:
            res = client.post(
                "/v1/chat/completions",
                json={"model": "default", "max_tokens": 16, "messages": [{"role": "user", "content": f"hi {i}"}]},
            )
        with lock:
            codes.append(res.status_code)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spent = store.spent_usd("tenant", "acme")
    per_call = 18 * PRICE / 1e6
    assert 0 < codes.count(200) <= BUDGET_USD / per_call + 1 and len(codes) == 20, codes
    assert spent <= BUDGET_USD + per_call + 1e-9, spent


def _owner_pid(url: str, job_id: str) -> int | None:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT owner FROM jobs WHERE job_id = %s", (job_id,)).fetchone()
    return int(row[0].split("/")[1]) if row and row[0] else None


def test_each_job_is_run_by_exactly_one_replica(replicas):
    """Ten uploads, alternating: every job done with each of its files ingested once (a second
    run of a job would count them unchanged), by the replica holding its lease."""
    (a, b), store, url = replicas
    key = _key(store)
    pids = {a.proc.pid, b.proc.pid}
    jobs = []
    with a.client(key) as via_a, b.client(key) as via_b:
        for i in range(10):
            files = [("file", (f"r{i}_{n}.md", f"# R{i} {n}\n\nReplica text {i} {n}.\n".encode())) for n in range(2)]
            res = (via_a if i % 2 else via_b).post("/v1/documents", files=files)
            assert res.status_code == 202, res.text
            jobs.append(res.json()["job_id"])
        done = [a.wait_job(via_a, j) for j in jobs]
    assert all(j["status"] == "done" for j in done), done
    assert all(j["result"]["ingested"] == 2 and j["result"]["unchanged"] == 0 for j in done), done
    owners = [_owner_pid(url, j) for j in jobs]
    assert set(owners) <= pids, owners
    print(f"replicas: 10 jobs, run by {[owners.count(p) for p in sorted(pids)]} per replica")


def test_a_job_whose_replica_is_killed_is_finished_by_the_other(replicas):
    (a, b), store, url = replicas
    key = _key(store)
    by_pid = {a.proc.pid: a, b.proc.pid: b}
    body = " ".join(f"Sentence {i} of a long report that takes a while to embed." for i in range(40))
    files = [("file", (f"k{n}.md", f"# Kill {n}\n\nKilled replica text {n}. {body}\n".encode())) for n in range(20)]
    with a.client(key) as via_a:
        res = via_a.post("/v1/documents", files=files)
        assert res.status_code == 202, res.text
        job_id = res.json()["job_id"]
        _until(lambda: (via_a.get(f"/v1/jobs/{job_id}").json().get("done") or 0) >= 1, timeout=30, step=0.01)
    holder = by_pid[_owner_pid(url, job_id)]
    survivor = b if holder is a else a
    holder.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    before = store.get_job(job_id)
    assert before["status"] == "running" and before["done"] < 20, before  # killed mid-job
    taken_s = _until(lambda: _owner_pid(url, job_id) == survivor.proc.pid, timeout=LEASE_S + 10, step=0.05)
    with survivor.client(key) as via_survivor:
        job = survivor.wait_job(via_survivor, job_id, timeout=60)
        assert job["status"] == "done", job
        assert job["result"]["ingested"] + job["result"]["unchanged"] == 20, job["result"]
        assert _finds(via_survivor, "Killed")
    finished_s = time.monotonic() - killed_at
    print(f"replicas: SIGKILL mid-job, taken over {taken_s:.1f} s later (lease {LEASE_S} s), done {finished_s:.1f} s")
