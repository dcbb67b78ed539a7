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
