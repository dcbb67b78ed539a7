"""API keys, the audit log and ingestion jobs (with leases, so that several processes share the
queue): what every store backend promises (store/contract/access.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ragwright.errors import StoreError


def test_keys_are_found_by_hash_listed_and_revoked_for_every_store(backend):
    a, b = backend.open(), backend.open()
    a.add_api_key("k1", "hash1", "acme", ["read", "write"], ["g2", "g1", "g2"], name="ci", rate_per_min=60)
    a.add_api_key("k2", "hash2", "other", ["admin"], [])
    key = b.api_key_by_hash("hash1")
    assert {k: key[k] for k in ("key_id", "tenant", "scopes", "groups", "name", "rate_per_min", "revoked_at")} == {
        "key_id": "k1",
        "tenant": "acme",
        "scopes": ["read", "write"],
        "groups": ["g1", "g2"],
        "name": "ci",
        "rate_per_min": 60,
        "revoked_at": None,
    }
    assert key["created_at"].endswith("Z") and key["created_at"][10] == "T"
    assert b.api_key_by_hash("nope") is None
    assert [k["key_id"] for k in b.list_api_keys()] == ["k1", "k2"]
    assert a.revoke_api_key("k1") is True
    assert a.revoke_api_key("k1") is False and a.revoke_api_key("nope") is False
    assert b.api_key_by_hash("hash1")["revoked_at"] is not None  # the other process sees it at once
    with pytest.raises(StoreError):
        a.add_api_key("k3", "hash2", "acme", [], [])  # a hash is unique


def test_audit_lists_newest_first_per_tenant(store):
    store.write_audit(
        [
            (1.0, "k1", "acme", "GET", "/v1/search", 200, ["a", "b"], 3.5),
            (2.0, "k2", "other", "POST", "/v1/ask", 403, [], 1.0),
            (3.0, "k1", "acme", "DELETE", "/v1/documents/a", 200, ["a"], 2.0),
        ]
    )
    store.write_audit([])
    assert [e["at"] for e in store.list_audit()] == [3.0, 2.0, 1.0]
    acme = store.list_audit(tenant="acme")
    assert [e["endpoint"] for e in acme] == ["/v1/documents/a", "/v1/search"]
    assert acme[1]["doc_ids"] == ["a", "b"] and acme[1]["status"] == 200 and acme[1]["latency_ms"] == 3.5
    assert [e["tenant"] for e in store.list_audit(limit=1)] == ["acme"]


def test_jobs_are_added_updated_and_resumed(store):
    store.add_job("j1", "ingest", "acme", "k1", {"paths": ["/u/a.md"], "groups": ["g"]})
    time.sleep(0.01)
    store.add_job("j2", "ingest", "acme", None, {"paths": []})
    job = store.get_job("j1")
    assert (job["status"], job["tenant"], job["key_id"], job["payload"], job["result"]) == (
        "queued",
        "acme",
        "k1",
        {"paths": ["/u/a.md"], "groups": ["g"]},
        None,
    )
    store.update_job("j1", status="running", total=3, done=1)
    store.update_job("j2", status="done", result={"added": 2})
    job = store.get_job("j1")
    assert (job["status"], job["total"], job["done"]) == ("running", 3, 1) and job["updated_at"] >= job["created_at"]
    assert store.get_job("j2")["result"] == {"added": 2}
    assert [j["job_id"] for j in store.unfinished_jobs()] == ["j1"]
    assert store.get_job("nope") is None


def test_concurrent_claimers_never_share_a_job(backend):
    """Eight claimers in four stores (processes) race for twenty jobs: each job is claimed once."""
    stores = [backend.open() for _ in range(4)]
    for n in range(20):
        stores[0].add_job(f"j{n:02}", "ingest", "acme", None, {"paths": []})
    claims: list[tuple[str, str]] = []
    start = threading.Barrier(8)

    def claim(store, worker: str) -> None:
        start.wait()
        misses = 0
        while misses < 3:
            got = store.claim_job(worker, lease_s=30)
            if got is None:
                misses += 1
            else:
                claims.append((got["job_id"], worker))
                time.sleep(0.005)  # a runner works on what it claimed: the others get their turn

    threads = [threading.Thread(target=claim, args=(stores[i % 4], f"w{i}")) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(job for job, _ in claims) == [f"j{n:02}" for n in range(20)]
    assert len({worker for _, worker in claims}) > 1  # they did race


def test_claims_go_oldest_first_and_skip_finished_and_held_jobs(store):
    for job_id in ("j1", "j2", "j3"):
        store.add_job(job_id, "ingest", "acme", None, {"paths": []})
        time.sleep(0.01)
    store.update_job("j1", status="done")
    got = store.claim_job("w1")
    assert got["job_id"] == "j2" and got["status"] == "queued" and got["payload"] == {"paths": []}
    assert store.claim_job("w2")["job_id"] == "j3"
    assert store.claim_job("w3") is None


def test_an_expired_lease_is_claimed_again_and_its_holder_told(backend):
    """The holder stops renewing (killed): once its lease runs out, another takes the job; the
    first holder's late heartbeat then fails, so it knows to stop."""
    a, b = backend.open(), backend.open()
    a.add_job("j1", "ingest", "acme", None, {"paths": []})
    assert a.claim_job("dead", lease_s=0.3)["job_id"] == "j1"
    assert b.claim_job("alive", lease_s=30) is None  # held
    assert a.renew_job("j1", "dead", lease_s=0.3) is True
    time.sleep(0.4)
    assert b.claim_job("alive", lease_s=30)["job_id"] == "j1"
    assert a.renew_job("j1", "dead") is False
    assert b.renew_job("j1", "alive") is True
    b.update_job("j1", status="done")
    assert b.renew_job("j1", "alive") is False  # finished: nothing to hold


# A worker process: claims the job, says so, then renews its lease every 0.1 s until killed.
WORKER = """
import sys, time
from ragwright.store.factory import open_store
store = open_store(sys.argv[1])
job = store.claim_job("doomed", lease_s=1.0)
print(job["job_id"] if job else "none", flush=True)
while store.renew_job(job["job_id"], "doomed", lease_s=1.0):
    time.sleep(0.1)
"""


def test_the_job_of_a_killed_process_is_taken_over(backend):
    store = backend.open()
    store.add_job("j1", "ingest", "acme", None, {"paths": []})
    worker = subprocess.Popen([sys.executable, "-c", WORKER, backend.url], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "j1"
        time.sleep(1.3)  # longer than the lease: the heartbeat kept it
        assert store.claim_job("survivor") is None
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        killed_at = time.monotonic()
        while (job := store.claim_job("survivor")) is None and time.monotonic() - killed_at < 5:
            time.sleep(0.05)
        assert job is not None and job["job_id"] == "j1"
        assert time.monotonic() - killed_at < 2.5  # about one lease (1 s) after the kill
    finally:
        worker.kill()
        worker.wait(10)


def test_a_released_job_is_claimable_at_once(store):
    store.add_job("j1", "ingest", "acme", None, {"paths": []})
    assert store.claim_job("w1")["job_id"] == "j1"
    store.release_job("j1", "someone-else")  # not the holder: nothing happens
    assert store.claim_job("w2") is None
    store.release_job("j1", "w1")
    assert store.claim_job("w2")["job_id"] == "j1"
