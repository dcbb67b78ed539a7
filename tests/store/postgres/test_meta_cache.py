"""The meta cache (store/postgres/meta.py): a search reads 'generation', 'learned' and 'embedder'
from it, not once each per call; this process's writes show at once, another process's within
the contract's 1 s."""

from __future__ import annotations

import time

import numpy as np

from ragwright.store.postgres import meta
from ragwright.store.postgres.meta import TTL_S, MetaCache
from tests.store.contract.backends import document


def _count_transactions(store, monkeypatch) -> list[str]:
    opened: list[str] = []
    original = store.db._transaction

    def counted(doing, transaction=True):
        opened.append(doing)
        return original(doing, transaction)

    monkeypatch.setattr(store.db, "_transaction", counted)
    return opened


def test_what_a_search_reads_of_meta_costs_no_round_trip_when_fresh(open_store, monkeypatch):
    """What Workspace.search asks the store: embedder, learned stamp, keyword and dense search.
    Before the cache that was 5 round trips (embedder, learned, generation x3) plus the vector query."""
    monkeypatch.setattr(meta, "TTL_S", 60.0)  # a loaded machine must not expire it mid-test
    store = open_store()
    store.set_meta("embedder", "e1")
    store.write_documents([document(f"d{i}", [f"wombat number {i}"]) for i in range(5)])
    query = np.ones(8, np.float32) / np.sqrt(8)
    store.get_meta("embedder"), store.keyword_search("wombat", 3), store.vector_search(query, 3)  # warm
    opened = _count_transactions(store, monkeypatch)
    assert store.get_meta("embedder") == "e1"
    assert store.learned_stamp()[1] == store.get_meta("generation")
    assert len(store.keyword_search("wombat", 3)) == 3
    assert len(store.vector_search(query, 3)) == 3
    assert len(opened) == 0  # and the repeated vector query's result is kept for this generation (results.py)


def test_this_process_sees_its_own_writes_at_once(open_store):
    a, b = open_store(), open_store()
    assert b.keyword_search("platypus", 3) == []
    a.write_documents([document("p", ["a platypus"])])
    assert [c for c, _ in b.keyword_search("platypus", 3)] == ["p#0"]
    a.set_meta("embedder", "e2")
    assert b.get_meta("embedder") == "e2"


def test_another_process_sees_a_write_within_the_cache_time(open_store):
    """`other` stands for another process: its own cache, which this process's writes do not drop."""
    writer, other = open_store(), open_store()
    other._meta = MetaCache()
    assert other.keyword_search("echidna", 3) == [] and other.get_meta("embedder") is None
    writer.write_documents([document("e", ["an echidna"])])
    writer.set_meta("embedder", "e3")
    written = time.monotonic()
    while other.keyword_search("echidna", 3) == [] or other.get_meta("embedder") != "e3":
        assert time.monotonic() - written < 1.0, "not seen within 1 s"
        time.sleep(0.02)
    assert time.monotonic() - written < TTL_S + 0.2
