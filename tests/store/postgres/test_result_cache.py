"""Search results kept per write generation (store/postgres/results.py): a repeated search costs
no database work, and nothing kept outlives the generation it was found in: not a deleted
document, not another reader's filter."""

from __future__ import annotations

import time

import numpy as np

from ragwright.store.postgres.meta import MetaCache
from ragwright.store.postgres.results import ResultCache
from ragwright.types import Access
from tests.store.contract.backends import document

QUERY = np.ones(8, np.float32) / np.sqrt(8)


def _searches(store, monkeypatch) -> list[str]:
    ran: list[str] = []
    for name in ("keyword_search", "vector_search"):
        original = getattr(store._search, name)
        monkeypatch.setattr(store._search, name, lambda *a, _o=original, _n=name: ran.append(_n) or _o(*a))
    return ran


def test_a_repeated_search_runs_once_per_generation(open_store, monkeypatch):
    store = open_store()
    store.write_documents([document(f"d{i}", [f"wombat number {i}"]) for i in range(4)])
    ran = _searches(store, monkeypatch)
    first = (store.keyword_search("wombat", 3), store.vector_search(QUERY, 3))
    assert (store.keyword_search("wombat", 3), store.vector_search(QUERY, 3)) == first
    assert ran == ["keyword_search", "vector_search"]
    assert len(store.keyword_search("wombat", 2)) == 2 and len(ran) == 3  # another k is another search


def test_a_deleted_document_is_not_served_from_what_was_kept(open_store):
    store, other = open_store(), open_store()
    other._meta = MetaCache()  # another process: this one's writes do not drop its meta
    store.write_documents([document("gone", ["the quokka smiles"]), document("kept", ["a quokka sleeps"])])
    for s in (store, other):
        assert {c for c, _ in s.keyword_search("quokka", 5)} == {"gone#0", "kept#0"}
        assert "gone#0" in {c for c, _ in s.vector_search(QUERY, 5)}
    assert store.delete_document("gone")
    assert {c for c, _ in store.keyword_search("quokka", 5)} == {"kept#0"}  # at once in this process
    deleted = time.monotonic()
    while "gone#0" in {c for c, _ in other.vector_search(QUERY, 5)}:
        assert time.monotonic() - deleted < 1.0, "another process served the deleted document past 1 s"
        time.sleep(0.02)


def test_one_readers_kept_results_are_not_anothers(open_store):
    store = open_store()
    store.write_documents(
        [
            document("a", ["the tenant a numbat"], tenant="a"),
            document("b", ["the tenant b numbat"], tenant="b"),
        ]
    )
    for tenant in ("a", "b", "a"):
        reader = {"access": Access(tenant)}
        assert [c for c, _ in store.keyword_search("numbat", 5, reader)] == [f"{tenant}#0"]
        assert [c for c, _ in store.vector_search(QUERY, 5, reader)] == [f"{tenant}#0"]


def test_the_cache_is_bounded_and_keeps_one_generation():
    cache = ResultCache(max_entries=2)
    for i in range(3):
        cache.get(1, ("q", i), lambda i=i: [(f"c{i}", 1.0)])
    assert list(cache._entries) == [("q", 1), ("q", 2)]
    assert cache.get(2, ("q", 2), lambda: [("new", 0.5)]) == [("new", 0.5)]
    assert list(cache._entries) == [("q", 2)]
