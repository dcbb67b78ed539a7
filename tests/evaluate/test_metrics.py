import math
import random

import pytest

from ragwright.evaluate.metrics import MEASURES, evaluate, query_measures, ranked


def test_hand_computed_case():
    rel = {"a": 2, "b": 1, "z": 1}
    scores = {"x": 0.9, "a": 0.8, "y": 0.7, "b": 0.6}
    m = query_measures(rel, scores)
    dcg = 2 / math.log2(3) + 1 / math.log2(5)
    idcg = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@10"] == pytest.approx(dcg / idcg, abs=1e-12)
    assert m["recall@10"] == pytest.approx(2 / 3)
    assert m["mrr@10"] == pytest.approx(1 / 2)
    assert m["map@100"] == pytest.approx((1 / 2 + 2 / 4) / 3)


def test_ties_break_by_doc_id_descending_and_empty_runs_score_zero():
    assert ranked({"a": 1.0, "c": 1.0, "b": 2.0}) == ["b", "c", "a"]
    means, per_query = evaluate({"q1": {"a": 1}, "q2": {"b": 1}}, {"q1": {"a": 1.0}})
    assert per_query["q2"] == {m: 0.0 for m in MEASURES}
    assert means["ndcg@10"] == pytest.approx(0.5)


def test_equals_pytrec_eval_to_1e9():
    import pytrec_eval  # a dev dependency: its absence is a failure, not a skip

    rng = random.Random(7)
    qrels, run = {}, {}
    for q in range(300):
        docs = [f"d{i}" for i in range(400)]
        qrels[f"q{q}"] = {d: rng.choice([1, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 6))}
        if rng.random() < 0.3:
            qrels[f"q{q}"][rng.choice(docs)] = 0  # judged non-relevant
        # coarse scores make ties common, to exercise the tie-break
        run[f"q{q}"] = {d: round(rng.random(), 2) for d in rng.sample(docs, rng.randint(0, 150))}
    _, ours = evaluate(qrels, run)
    cut10 = {q: dict(sorted(s.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:10]) for q, s in run.items()}
    full = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10", "recall.100", "map_cut.100"}).evaluate(
        run
    )
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut10)
    checked = 0
    for q, theirs in full.items():
        assert ours[q]["ndcg@10"] == pytest.approx(theirs["ndcg_cut_10"], abs=1e-9)
        assert ours[q]["recall@10"] == pytest.approx(theirs["recall_10"], abs=1e-9)
        assert ours[q]["recall@100"] == pytest.approx(theirs["recall_100"], abs=1e-9)
        assert ours[q]["map@100"] == pytest.approx(theirs["map_cut_100"], abs=1e-9)
        assert ours[q]["mrr@10"] == pytest.approx(rr[q]["recip_rank"], abs=1e-9)
        checked += 1
    assert checked > 200
