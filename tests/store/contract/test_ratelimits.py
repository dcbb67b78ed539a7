"""Per-key rate limits kept by the store (RateLimitStore), on both backends: a burst of `per_min`
then a wait, and two stores on one database (two processes, two replicas) spend one bucket."""

from __future__ import annotations

import threading

import pytest


def test_a_burst_then_the_wait_until_the_next_token(store):
    waits = [store.take_rate_token("k_burst", 6) for _ in range(7)]
    assert waits[:6] == [None] * 6
    assert waits[6] == pytest.approx(10.0, abs=0.5)  # 6 a minute: one token every 10 s
    assert store.take_rate_token("k_other", 6) is None  # buckets are per key
    assert store.take_rate_token("k_free", 0) is None  # no limit


def test_two_stores_on_one_database_share_the_bucket_under_concurrency(backend):
    """40 requests at once through two stores against a bucket of 10: exactly 10 go. A bucket per
    process (or a read-then-write race) lets up to 20 through."""
    stores = [backend.open(), backend.open()]
    granted, lock = [], threading.Lock()
    barrier = threading.Barrier(40)

    def one(i: int) -> None:
        barrier.wait()
        wait = stores[i % 2].take_rate_token("k_shared", 10)
        with lock:
            granted.append(wait is None)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == 10, sum(granted)
