import pytest

from ragwright.retrieve import reciprocal_rank_fusion


def test_rrf_scores():
    fused = dict(reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=60))
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["c"] == pytest.approx(1 / 62)


def test_weights_and_order():
    fused = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], weights=[2.0, 1.0], k=1)
    assert [i for i, _ in fused] == ["a", "b"]
    assert reciprocal_rank_fusion([["a"], ["b"]], weights=[0.0, 1.0]) == [("b", pytest.approx(1 / 61))]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 1.0])


def test_relative_score_fusion():
    from ragwright.retrieve import relative_score_fusion

    fused = dict(relative_score_fusion([[("a", 10.0), ("b", 5.0)], [("b", 0.8), ("c", 0.4)]], [0.5, 0.5]))
    assert fused["a"] == pytest.approx(0.5 * 1.0 + 0.5 * 0.5)  # missing from dense: its lowest relative score
    assert fused["b"] == pytest.approx(0.5 * 0.5 + 0.5 * 1.0)
    assert fused["c"] == pytest.approx(0.5 * 0.5 + 0.5 * 0.5)
    negative = dict(relative_score_fusion([[("x", -0.1), ("y", -0.3)]]))
    assert negative == {"x": pytest.approx(1.0), "y": pytest.approx(0.0)}
    assert relative_score_fusion([[("a", 1.0)], []], [1.0, 1.0]) == [("a", 1.0)]
    with pytest.raises(ValueError):
        relative_score_fusion([[("a", 1.0)]], [1.0, 2.0])


def test_a_short_list_is_exhaustive_so_missing_means_no_match():
    from ragwright.retrieve import relative_score_fusion

    fused = relative_score_fusion([[("a", 7.0)], [("b", 0.9), ("c", 0.8), ("a", 0.5)]], [0.45, 0.55], depth=100)
    assert fused[0][0] == "a"  # the only keyword match is not drowned by dense-only hits
    assert dict(fused)["b"] == pytest.approx(0.55)


def _fused_by_sum(lists, weights, depth):
    """Relative score fusion as a sum per id over the lists (its definition), for comparison."""
    scaled = []
    for ranked, weight in zip(lists, weights, strict=True):
        if ranked and weight:
            top = max(s for _, s in ranked)
            rel = {i: s / top for i, s in ranked}
            scaled.append((rel, 0.0 if len(ranked) < depth else min(rel.values()), weight))
    ids = list(dict.fromkeys(i for rel, _, _ in scaled for i in rel))
    fused = {i: sum(w * rel.get(i, floor) for rel, floor, w in scaled) for i in ids}
    return sorted(fused.items(), key=lambda kv: -kv[1])


def test_relative_score_fusion_of_two_lists_gives_the_same_floats_and_order_as_the_sum():
    """The two-list path (every hybrid search) matches the general sum bit for bit, ties included."""
    import random

    from ragwright.retrieve import relative_score_fusion

    rng = random.Random(5)
    for _ in range(300):
        pool = [f"c{n}" for n in range(60)]
        bm25 = sorted(
            ((c, float(rng.randint(1, 8))) for c in rng.sample(pool, rng.randint(1, 30))), key=lambda x: -x[1]
        )
        dense = sorted(((c, rng.choice([0.5, 0.25, rng.random()])) for c in rng.sample(pool, 30)), key=lambda x: -x[1])
        depth = rng.choice([20, 30, 100])
        lists = [bm25[:depth], dense[:depth]]
        assert relative_score_fusion(lists, [0.45, 0.55], depth) == _fused_by_sum(lists, [0.45, 0.55], depth)
