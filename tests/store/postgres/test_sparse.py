"""The PostgreSQL store's incremental BM25 index gives what SQLite's rebuilt SparseBM25 gives
over the same chunks, after any sequence of additions and removals, filtered or not."""

from __future__ import annotations

import numpy as np
import pytest

from ragwright.store.bm25 import SparseBM25, encode_counts
from ragwright.store.postgres.sparse import MAX_SEGMENTS, LiveBM25


def _blob(rng: np.random.Generator, vocabulary: int = 300) -> bytes:
    n = int(rng.integers(1, 40))
    return encode_counts(rng.choice(vocabulary, size=n, replace=False), rng.integers(1, 6, size=n))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_index_scores_as_a_rebuilt_one(seed):
    rng = np.random.default_rng(seed)
    chunks: dict[int, bytes] = {}
    index, next_id = LiveBM25.empty(), 1
    for step in range(80):
        removed = [r for r in chunks if rng.random() < 0.06]
        for r in removed:
            del chunks[r]
        added = list(range(next_id, next_id + int(rng.integers(0, 30))))
        next_id += len(added)
        chunks.update({r: _blob(rng) for r in added})
        index = index.apply(removed, added, [f"c{r}" for r in added], [chunks[r] for r in added])
        assert len(index.segments) <= MAX_SEGMENTS + 1 and len(index) == len(chunks)
        ids = sorted(chunks)
        rebuilt = SparseBM25(np.array(ids, np.int64), [chunks[r] for r in ids], 300)
        allowed = np.array(sorted(rng.choice(ids, size=len(ids) // 3, replace=False))) if step % 2 and ids else None
        query = [int(t) for t in rng.choice(300, size=4)]
        want = rebuilt.search(query, 10, allowed)
        got = index.search(query, 10, allowed)
        assert [n for n, _ in got] == [f"c{r}" for r, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)


def test_an_index_in_use_is_not_changed_by_a_refresh():
    rng = np.random.default_rng(4)
    first = LiveBM25.build([1, 2], ["a", "b"], [_blob(rng), _blob(rng)])
    before = first.search(list(range(300)), 5)
    second = first.apply([1], [3], ["c"], [_blob(rng)])
    assert first.search(list(range(300)), 5) == before
    assert {n for n, _ in second.search(list(range(300)), 5)} == {"b", "c"}


def test_out_of_order_rowids_are_sorted_in():
    rng = np.random.default_rng(5)
    index = LiveBM25.build([10, 20], ["a", "b"], [_blob(rng), _blob(rng)]).apply([], [15], ["m"], [_blob(rng)])
    assert index.ids.tolist() == [10, 15, 20] and index.names == ["a", "m", "b"]


def test_a_repeated_term_is_read_once_and_counts_each_time():
    """Review 15: a word 800 times in a query read its postings 800 times, over every tenant's chunks."""
    import tracemalloc

    n = 20_000
    blobs = [encode_counts([0, 1 + i % 7], [1, 1 + i % 3]) for i in range(n)]
    index = LiveBM25.build(list(range(1, n + 1)), [f"c{i}" for i in range(1, n + 1)], blobs)
    rebuilt = SparseBM25(np.arange(1, n + 1), blobs, 8)
    for allowed in (None, np.arange(1, n + 1, 3)):
        for query in ([0, 2, 0, 2, 2], [3] * 50 + [0]):
            want = rebuilt.search(query, 10, allowed)
            got = index.search(query, 10, allowed)
            assert [name for name, _ in got] == [f"c{r}" for r, _ in want]
            assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-6)
        tracemalloc.start()
        hits = index.search([0] * 800, 5, allowed)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(hits) == 5 and peak < 3_000_000  # was 800 x 20,000 postings
