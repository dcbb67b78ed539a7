"""Search promises of every backend: BM25 as the textbook writes it, filters (the access filter
above all) applied before ranking so that a restrictive one never empties the top k, and dense
search that finds what an exact scan finds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ragwright.analysis import Analyzer
from ragwright.types import Access

from .backends import document

DIM = 32


def _bm25(texts: dict[str, str], query: str, k1: float = 0.9, b: float = 0.4) -> dict[str, float]:
    """BM25 written out term by term over the given chunk texts (Lucene's idf)."""
    analyzer = Analyzer()
    docs = {cid: analyzer.terms(t) for cid, t in texts.items()}
    avgdl = sum(map(len, docs.values())) / len(docs)
    scores = {}
    for cid, terms in docs.items():
        score = 0.0
        for q in analyzer.terms(query):
            df = sum(1 for other in docs.values() if q in other)
            tf = terms.count(q)
            if tf:
                idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(terms) / avgdl))
        if score > 0:
            scores[cid] = score
    return scores


def test_keyword_scores_are_bm25_over_the_allowed_chunks(store):
    texts = {
        "a": "Solar panels on the roof of the lab.",
        "b": "Solar power and wind power.",
        "c": "The budget for solar panels and the lab.",
        "d": "Wind turbines only.",
    }
    store.write_documents(
        [document(k, [v], title="", tenant="t2" if k == "c" else "default") for k, v in texts.items()]
    )
    got = dict(store.keyword_search("solar lab power", 10))
    assert got == pytest.approx({f"{k}#0": s for k, s in _bm25(texts, "solar lab power").items()}, abs=1e-4)
    # Filtered: N, df and the average length come from the allowed chunks alone, so a score
    # says nothing about text the reader cannot see.
    visible = {k: v for k, v in texts.items() if k != "c"}
    got = dict(store.keyword_search("solar lab power", 10, {"access": Access()}))
    assert got == pytest.approx({f"{k}#0": s for k, s in _bm25(visible, "solar lab power").items()}, abs=1e-4)
    assert store.keyword_search("the and of", 5) == [] and store.keyword_search("", 5) == []
    assert store.keyword_search('"unbalanced AND (NEAR *', 5) == []


def _crowd(n_crowd: int, n_few: int, rng: np.random.Generator) -> tuple[list, np.ndarray, np.ndarray]:
    """Tenant 'crowd' close to the query, tenant 'few' farther: an unfiltered top k is all crowd."""
    query = np.zeros(DIM, np.float32)
    query[0] = 1.0
    crowd = query + 0.15 * rng.normal(size=(n_crowd, DIM)).astype(np.float32)
    few = query + 0.8 * rng.normal(size=(n_few, DIM)).astype(np.float32)
    vectors = np.concatenate([crowd, few])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    writes = [
        document(f"c{i}", ["solar solar solar panels"], tenant="crowd", vectors=vectors[i : i + 1])
        for i in range(n_crowd)
    ]
    writes += [
        document(f"f{i}", [f"solar note {i}"], tenant="few", vectors=vectors[n_crowd + i : n_crowd + i + 1])
        for i in range(n_few)
    ]
    return writes, vectors, query


@pytest.mark.parametrize("ann_threshold", [10_000, 50], ids=["exact", "hnsw"])
def test_a_restrictive_filter_never_empties_the_top_k(backend, ann_threshold):
    """60 of 1,260 chunks pass the access filter. With HNSW (ann_threshold=50 < 60 allowed), a
    filter applied after the index's candidates would leave nothing: the crowd fills them all."""
    n_crowd, n_few = 1200, 60
    writes, vectors, query = _crowd(n_crowd, n_few, np.random.default_rng(5))
    store = backend.open(ann_threshold=ann_threshold)
    store.write_documents(writes)
    few = Access("few")
    assert {c[0] for c, _ in store.vector_search(query, 10)} == {"c"}  # unfiltered: the crowd
    hits = store.vector_search(query, 10, {"access": few})
    assert len(hits) == 10 and all(c.startswith("f") for c, _ in hits)
    sims = vectors[n_crowd:] @ query
    exact = {f"f{i}#0" for i in np.argsort(-sims)[:10]}
    assert len(exact & {c for c, _ in hits}) >= 9
    for cid, score in hits:
        assert score == pytest.approx(float(sims[int(cid[1:].split("#")[0])]), abs=2e-3)
    words = store.keyword_search("solar", 10, {"access": few})
    assert len(words) == 10 and all(c.startswith("f") for c, _ in words)
    assert store.vector_search(query, 10, {"access": Access("nobody")}) == []


def test_group_access_on_search(store):
    store.write_documents(
        [
            document("open", ["Quarterly solar report."]),
            document("hr", ["Quarterly solar salaries."], groups=("hr",)),
            document("other", ["Quarterly solar elsewhere."], tenant="t2"),
        ]
    )
    vec = np.ones(8, np.float32) / np.sqrt(8)
    for access, expected in [
        (Access(), {"open#0"}),
        (Access(groups=("hr",)), {"open#0", "hr#0"}),
        (Access(admin=True), {"open#0", "hr#0"}),
        (Access("t2"), {"other#0"}),
    ]:
        assert {c for c, _ in store.keyword_search("quarterly", 10, {"access": access})} == expected
        assert {c for c, _ in store.vector_search(vec, 10, {"access": access})} == expected


def _clustered(n: int, n_queries: int, dim: int = 384, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Vectors around 40 centres, as embeddings of a corpus on several topics are."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim)).astype(np.float32)
    pick = rng.integers(40, size=n + n_queries)
    points = centres[pick] + 0.9 * rng.normal(size=(n + n_queries, dim)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    return points[:n], points[n:]


@pytest.mark.parametrize("ann_threshold", [1_000_000, 500], ids=["exact", "hnsw"])
def test_dense_search_finds_what_an_exact_scan_finds(backend, ann_threshold):
    vectors, queries = _clustered(3000, 40)
    store = backend.open(ann_threshold=ann_threshold)
    store.write_documents([document(f"d{i}", [f"text {i}"], vectors=vectors[i : i + 1]) for i in range(len(vectors))])
    recalls = []
    for q in queries:
        sims = vectors @ q
        truth = {f"d{i}#0" for i in np.argsort(-sims)[:10]}
        hits = store.vector_search(q, 10)
        assert len(hits) == 10 and [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
        for cid, score in hits:
            assert score == pytest.approx(float(sims[int(cid[1:-2])]), abs=2e-3)
        recalls.append(len(truth & {c for c, _ in hits}) / 10)
    floor = 0.99 if ann_threshold > len(vectors) else 0.95
    assert np.mean(recalls) >= floor, np.mean(recalls)
