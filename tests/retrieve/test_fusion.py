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
