import math

import numpy as np
import pytest

from ragwright.analysis import Analyzer
from ragwright.store.bm25 import SparseBM25, decode_counts, encode_counts
from ragwright.store.subsets import top_k


def test_analyzer_is_lucene_like():
    a = Analyzer()
    assert a.terms("The cell's membranes are RUNNING; covid-19 isn't") == [
        "cell",
        "membran",
        "run",
        "covid",
        "19",
        "isn't",
    ]


def test_counts_round_trip():
    ids, counts = decode_counts(encode_counts([5, 0, 70000], [1, 3, 70000]))
    assert ids.tolist() == [5, 0, 70000] and counts.tolist() == [1, 3, 65535]


def _reference(docs, query, k1, b):
    """BM25 written out term by term, as in the textbook (Lucene's idf)."""
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    scores = []
    for d in docs:
        s = 0.0
        for q in query:
            df = sum(1 for x in docs if q in x)
            tf = d.count(q)
            if tf:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                s += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))
        scores.append(s)
    return scores


@pytest.mark.parametrize("k1, b", [(0.9, 0.4), (1.2, 0.75), (2.0, 0.0)])
def test_scores_equal_the_formula(k1, b):
    rng = np.random.default_rng(1)
    docs = [list(rng.integers(0, 30, size=rng.integers(1, 40))) for _ in range(60)]
    blobs = []
    for d in docs:
        terms = sorted(set(d))
        blobs.append(encode_counts(terms, [d.count(t) for t in terms]))
    ids = np.arange(10, 70)
    index = SparseBM25(ids, blobs, 30, k1, b)
    query = [3, 7, 7, 29]
    expected = _reference(docs, query, k1, b)
    hits = index.search(query, 60)
    assert len(hits) == sum(1 for s in expected if s > 0)
    for rowid, score in hits:
        assert score == pytest.approx(expected[rowid - 10], rel=1e-5)
    assert [h[1] for h in hits] == sorted((h[1] for h in hits), reverse=True)


def test_allowed_and_unknown_terms():
    blobs = [encode_counts([0], [1]), encode_counts([0, 1], [1, 1]), encode_counts([1], [2])]
    index = SparseBM25(np.array([1, 2, 3]), blobs, 2)
    assert [h[0] for h in index.search([0], 10, allowed=np.array([2, 3]))] == [2]
    assert index.search([99], 10) == []
    assert SparseBM25(np.zeros(0, np.int64), [], 0).search([0], 5) == []


def _blob(words: list[int]) -> bytes:
    terms = sorted(set(words))
    return encode_counts(terms, [words.count(t) for t in terms])


def test_filtered_scores_use_the_statistics_of_the_allowed_chunks_only():
    """A reader's scores must not move when text it cannot see changes: otherwise the score of its
    own chunk for a probe word tells how often that word occurs elsewhere."""
    mine = [[1, 2, 3], [2, 4, 4, 5], [6, 7]]
    others = [[1] * 5, [1, 8], [1, 9, 9]]
    alone = SparseBM25(np.arange(1, 4), [_blob(d) for d in mine], 10)
    mixed = SparseBM25(np.arange(1, 7), [_blob(d) for d in mine + others], 10)
    allowed = np.arange(1, 4)
    for query in ([1], [2], [1, 2, 4], [7]):
        got, expected = mixed.search(query, 10, allowed), alone.search(query, 10)
        assert [r for r, _ in got] == [r for r, _ in expected]
        assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-6)
    # unfiltered, the shared statistics are what they were: word 1 is common, so it scores lower
    assert dict(mixed.search([1], 10))[1] < dict(alone.search([1], 10))[1]


def test_filtered_scores_equal_the_formula_over_the_subset():
    rng = np.random.default_rng(7)
    docs = [list(rng.integers(0, 20, size=rng.integers(1, 30))) for _ in range(80)]
    index = SparseBM25(np.arange(80), [_blob(d) for d in docs], 20)
    keep = np.sort(rng.choice(80, size=25, replace=False))
    expected = _reference([docs[i] for i in keep], [3, 5, 5], 0.9, 0.4)
    hits = dict(index.search([3, 5, 5], 80, keep))
    assert len(hits) == sum(1 for s in expected if s > 0)
    for position, rowid in enumerate(keep):
        assert hits.get(int(rowid), 0.0) == pytest.approx(expected[position], rel=1e-5)


def _per_term_postings(index: SparseBM25, spans, allowed, times=None):
    """The scoped postings term by term, as they were computed before the one-pass version (a term
    repeated in the query: its span repeated, as before repeats were weighted, when times is None)."""
    mask, n, avgdl = index._scope(allowed)
    rows_out, weights_out = [], []
    offset = 0
    for lo, hi in spans:
        rows = index.rows[lo:hi]
        keep = mask[rows]
        rows = rows[keep]
        repeats = 1 if times is None else times[offset]
        offset += hi - lo
        if not len(rows):
            continue
        tf = index.tf[lo:hi][keep].astype(np.float32)
        idf = np.float32(np.log1p((n - len(rows) + 0.5) / (len(rows) + 0.5)))
        rows_out.append(rows)
        norm = index.k1 * (1.0 - index.b + index.b * index.lengths[rows] / avgdl)
        weights = idf * tf * (index.k1 + 1.0) / (tf + norm)
        weights_out.append(weights if times is None else weights.astype(np.float64) * repeats)
    if not rows_out:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    return np.concatenate(rows_out), np.concatenate(weights_out)


def test_filtered_search_gives_the_same_floats_as_term_by_term(monkeypatch):
    """The one-pass scoped postings (server hot path) change no score, not even in the last bit."""
    rng = np.random.default_rng(11)
    docs = [list(rng.integers(0, 40, size=rng.integers(1, 60))) for _ in range(300)]
    index = SparseBM25(np.arange(5, 305), [_blob(d) for d in docs], 40)
    subsets = [np.arange(5, 305), np.sort(rng.choice(np.arange(5, 305), 90, replace=False)), np.array([7, 9])]
    queries = [list(rng.integers(0, 45, size=rng.integers(1, 9))) for _ in range(60)]
    got = [index.search(q, 50, a) for a in subsets for q in queries]
    monkeypatch.setattr(SparseBM25, "_scoped_postings", _per_term_postings)
    assert got == [index.search(q, 50, a) for a in subsets for q in queries]
    assert any(got) and any(not g for g in got)  # some queries match nothing among the allowed


def test_hits_are_python_ints_and_doubles_best_first():
    rng = np.random.default_rng(3)
    docs = [list(rng.integers(0, 30, size=rng.integers(1, 40))) for _ in range(200)]
    index = SparseBM25(np.arange(1000, 1200), [_blob(d) for d in docs], 30)
    for allowed in (None, np.arange(1000, 1200, 2)):
        hits = index.search([1, 2, 2, 9], 30, allowed)
        assert len(hits) == 30 and all(type(r) is int and type(s) is float for r, s in hits)
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
        assert allowed is None or {r for r, _ in hits} <= set(allowed.tolist())


def _search_reading_every_repeat(index: SparseBM25, term_ids, k, allowed=None):
    """search() as it was before review 15: a repeated term's postings read once per repeat."""
    spans = [(index.indptr[t], index.indptr[t + 1]) for t in term_ids if 0 <= t < len(index.indptr) - 1]
    spans = [(lo, hi) for lo, hi in spans if hi > lo]
    if not spans:
        return []
    if allowed is None:
        rows = np.concatenate([index.rows[lo:hi] for lo, hi in spans])
        weights = np.concatenate([index.weights[lo:hi] for lo, hi in spans])
    else:
        rows, weights = _per_term_postings(index, spans, allowed)
    scores = np.bincount(rows, weights=weights, minlength=len(index.ids))
    hits = np.flatnonzero(scores > 0)
    if len(hits) > k:
        hits = hits[top_k(scores[hits], k)]
    hits = hits[np.lexsort((index.ids[hits], -scores[hits]))]
    return list(zip(index.ids[hits].tolist(), scores[hits].tolist(), strict=True))


def test_repeated_terms_give_the_same_floats_as_reading_each_repeat():
    rng = np.random.default_rng(5)
    docs = [list(rng.integers(0, 40, size=rng.integers(1, 60))) for _ in range(300)]
    index = SparseBM25(np.arange(5, 305), [_blob(d) for d in docs], 40)
    subsets = [None, np.arange(5, 305), np.sort(rng.choice(np.arange(5, 305), 90, replace=False))]
    queries = [list(rng.integers(0, 45, size=rng.integers(1, 12))) for _ in range(80)]
    queries += [[3] * 800, [1, 1, 2, 1, 50, 2]]
    assert sum(len(q) - len(set(q)) for q in queries) > 100  # repeats are tested
    for allowed in subsets:
        assert [index.search(q, 50, allowed) for q in queries] == [
            _search_reading_every_repeat(index, q, 50, allowed) for q in queries
        ]


def test_a_word_repeated_800_times_reads_its_postings_once():
    """Review 15: one word 800 times in a query read its postings 800 times over every tenant's
    chunks (16M entries and +77 MB at 20,000 chunks) before the reader's filter applied."""
    import tracemalloc

    n = 20_000
    index = SparseBM25(np.arange(n), [encode_counts([0, 1 + i % 7], [1, 1]) for i in range(n)], 8)
    for allowed in (None, np.arange(0, n, 3)):
        tracemalloc.start()
        hits = index.search([0] * 800, 5, allowed)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(hits) == 5 and peak < 3_000_000  # was 800 x 20,000 postings: ~190 MB
