import numpy as np
import pytest

from ragwright.store.subsets import top_k
from ragwright.store.vectors import ExactIndex, HnswIndex, build_index


def _data(n=3000, d=64, seed=0):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, d)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    return np.arange(100, 100 + n), m


def test_exact_is_exact():
    ids, m = _data()
    q = m[42] + 0.01
    hits = ExactIndex(ids, m).search(q, 10)
    expected = ids[np.argsort(-(m @ q))[:10]]
    assert [h[0] for h in hits] == list(expected)
    assert hits[0][0] == 142


def test_filtered_search_only_returns_allowed():
    ids, m = _data()
    allowed = ids[::7]
    hits = ExactIndex(ids, m).search(m[0], 20, allowed)
    assert len(hits) == 20 and all(h[0] in set(allowed.tolist()) for h in hits)
    assert hits[0][0] == 100  # m[0] itself is allowed (index 0)


def test_hnsw_agrees_with_exact():
    ids, m = _data()
    exact, hnsw = ExactIndex(ids, m), HnswIndex(ids, m)
    recall = []
    for i in range(0, 300, 10):
        a = {h[0] for h in exact.search(m[i], 10)}
        b = {h[0] for h in hnsw.search(m[i], 10)}
        recall.append(len(a & b) / 10)
    assert np.mean(recall) >= 0.95
    score_exact = exact.search(m[5], 1)[0][1]
    assert abs(hnsw.search(m[5], 1)[0][1] - score_exact) < 1e-3  # float16 against float32


def test_threshold_chooses_the_index():
    ids, m = _data(50)
    assert type(build_index(ids, m, 10)) is HnswIndex
    assert type(build_index(ids, m, 100)) is ExactIndex


@pytest.mark.parametrize("every", [1, 2, 7, 40, 500])
def test_filtered_search_is_exact_at_any_share(every):
    """Wide shares scan everything and keep the allowed; small ones scan the subset: both exact."""
    ids, m = _data(seed=every)
    allowed = ids[::every]
    index = ExactIndex(ids, m)
    for q in (m[3], np.random.default_rng(every).standard_normal(m.shape[1]).astype(np.float32)):
        best = np.sort(m[::every] @ q)[::-1][:25]
        for _ in range(2):  # the second search reuses the cached subset
            hits = index.search(q, 25, allowed)
            assert len(hits) == min(25, len(allowed)) and {h[0] for h in hits} <= set(allowed.tolist())
            assert np.allclose([h[1] for h in hits], best, atol=2e-3)  # float16 rounding only


@pytest.mark.parametrize("n, k", [(5, 10), (5000, 1), (5000, 100), (10628, 100), (20000, 600), (9000, 300)])
def test_top_k_is_exact_whatever_the_scores(n, k):
    rng = np.random.default_rng(n + k)
    step = np.zeros(n, np.float32)
    step[: k // 2 + 1] = 1.0  # fewer high scores than k, then a wall of ties
    for scores in (rng.standard_normal(n).astype(np.float32), np.round(rng.random(n), 2).astype(np.float32), step):
        top = top_k(scores, k)
        assert len(top) == min(k, n) and len(set(top.tolist())) == len(top)
        assert np.array_equal(np.sort(scores[top]), np.sort(scores)[::-1][: min(k, n)][::-1])


def test_an_hnsw_index_built_before_the_embedding_model_loads_does_not_crash_it(tmp_path):
    """usearch loaded before onnxruntime made the model's first session segfault (a server warms
    a large store's HNSW index before its model): run that order in a fresh process."""
    import subprocess
    import sys

    script = (
        "import numpy as np\n"
        "from ragwright.store.vectors import HnswIndex\n"
        "HnswIndex(np.arange(10), np.random.default_rng(0).random((10, 8), dtype=np.float32))\n"
        "from ragwright.models.embedding import LocalMiniLM\n"
        "m = LocalMiniLM(); m.warm_up(); print(m.embed(['hello']).shape)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "(1, 384)" in done.stdout, (done.returncode, done.stderr[-500:])


def test_hits_are_the_same_ints_and_doubles_as_one_by_one(monkeypatch):
    """The hits leave the index as Python ints and floats, each 1.0 minus the float32 distance in
    double precision, whether converted in one go (the server's path) or one by one."""
    ids, m = _data()
    index = ExactIndex(ids, m)
    queries = [m[i] + 0.01 for i in range(0, 300, 30)]
    got = [index.search(q, 40, a) for q in queries for a in (None, ids[::3], ids[:50])]
    assert all(type(i) is int and type(s) is float for hits in got for i, s in hits)

    def one_by_one(ids, positions, distances):
        return [(int(i), 1.0 - float(d)) for i, d in zip(ids[positions], distances, strict=True)]

    monkeypatch.setattr(ExactIndex, "_hits", staticmethod(one_by_one))
    assert got == [index.search(q, 40, a) for q in queries for a in (None, ids[::3], ids[:50])]


def _reference(index: ExactIndex, q: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
    """The same index's search with the float16 scan alone."""
    kept, index._int8 = index._int8, None
    try:
        return index.search(q, k, allowed)
    finally:
        index._int8 = kept


@pytest.mark.parametrize("shape", ["gaussian", "clustered", "one loud dimension"])
def test_the_int8_first_pass_finds_the_same_top_k_as_the_float16_scan(shape):
    """From INT8_FROM rows an int8 copy is scanned first and only rows it cannot rule out are
    scored: the hits must be the float16 scan's, ids and scores, whatever the vectors look like."""
    from ragwright.store.vectors import INT8_FROM

    rng = np.random.default_rng(len(shape))
    n, d = INT8_FROM + 3000, 384
    if shape == "clustered":  # near duplicates: many scores within the int8 rounding of each other
        centres = rng.standard_normal((40, d)).astype(np.float32)
        m = centres[rng.integers(0, 40, n)] + 0.05 * rng.standard_normal((n, d)).astype(np.float32)
    else:
        m = rng.standard_normal((n, d)).astype(np.float32)
    if shape == "one loud dimension":  # a coarse int8 scale for every other dimension
        m[:, 7] *= 40
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    ids = np.arange(n) * 3 + 1
    index = ExactIndex(ids, m)
    assert index._int8 is not None
    queries = [m[5], m[777] + 0.3 * m[778], rng.standard_normal(d).astype(np.float32) * 3.0]  # the last unnormalised
    for q in queries:
        for k in (1, 10, 100, 1000):
            _assert_same_hits(index.search(q, k), _reference(index, q, k))
        allowed = ids[::3]  # a wide filter: the whole matrix is scanned for more than k
        _assert_same_hits(index.search(q, 20, allowed), _reference(index, q, 20, allowed))


def test_a_query_with_nan_or_infinity_is_searched_as_below_int8_from():
    """Its int8 form has no scale: the float16 scan answers, as it does for a smaller collection."""
    from ragwright.store.vectors import INT8_FROM

    ids, m = _data(INT8_FROM + 100, 32)
    index = ExactIndex(ids, m)
    for bad in (np.nan, np.inf):
        q = m[3].copy()
        q[0] = bad
        assert len(index.search(q, 10)) == 10


def _assert_same_hits(got: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    """The same scores in the same order, and the same ids for each score: float16 scores tie
    often, and which of the rows tied at the k-th score makes the cut is arbitrary for both."""
    assert [s for _, s in got] == [s for _, s in expected]
    last = expected[-1][1]
    by_score = lambda hits: {(i, s) for i, s in hits if s != last}  # noqa: E731
    assert by_score(got) == by_score(expected)
