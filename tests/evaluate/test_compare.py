"""Comparison, significance and the CI gate, on runs written by hand."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ragwright.cli import app
from ragwright.evaluate.compare import compare_runs, gate, paired_p_value
from ragwright.evaluate.runs import EvalRun
from ragwright.store import SqliteStore


def make_run(run_id, ndcg, recall=None, dataset_hash="h1", pipeline="default"):
    per_query = {f"q{i}": {"ndcg@10": v, **({"recall@10": recall[i]} if recall else {})} for i, v in enumerate(ndcg)}
    metrics = {m: round(float(np.mean([p[m] for p in per_query.values()])), 6) for m in per_query["q0"]}
    return EvalRun(
        kind="retrieval",
        dataset="tiny",
        split="test",
        pipeline=pipeline,
        dataset_hash=dataset_hash,
        metrics=metrics,
        per_query=per_query,
        run_id=run_id,
        cases={q: {"query": f"query {q}"} for q in per_query},
    ).to_dict()


def test_paired_permutation_test():
    assert paired_p_value(np.zeros(10)) == 1.0
    assert paired_p_value(np.array([0.1])) is None
    consistent = np.full(30, 0.05) + np.linspace(-0.01, 0.01, 30)
    assert paired_p_value(consistent) < 0.001
    noise = np.random.default_rng(1).normal(0, 0.1, 40)
    assert paired_p_value(noise) > 0.05
    assert paired_p_value(noise) == paired_p_value(noise)  # seeded: the same every time


def test_compare_deltas_and_most_changed():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.7, 50)
    a = make_run("a", base.tolist())
    better = base + 0.1
    better[7] = base[7] - 0.3  # one query got much worse
    b = make_run("b", better.tolist())
    cmp = compare_runs(a, b, top=3)
    (d,) = cmp.deltas
    assert (
        d.metric == "ndcg@10"
        and d.n_paired == 50
        and d.delta == pytest.approx(b["metrics"]["ndcg@10"] - a["metrics"]["ndcg@10"])
    )
    assert d.p_value < 0.01
    assert cmp.changed[0]["query_id"] == "q7" and cmp.changed[0]["delta"] == pytest.approx(-0.3)
    assert cmp.changed[0]["query"] == "query q7" and len(cmp.changed) == 3 and cmp.same_dataset


def test_gate_checks():
    base = make_run("a", [0.5, 0.5], recall=[1.0, 1.0])
    small_drop = make_run("b", [0.495, 0.495], recall=[1.0, 1.0])
    big_drop = make_run("c", [0.45, 0.5], recall=[1.0, 1.0])
    assert all(c.passed for c in gate(base, small_drop, 0.01))
    failed = [c.metric for c in gate(base, big_drop, 0.01) if not c.passed]
    assert failed == ["ndcg@10"]
    unmeasured = dict(big_drop, metrics={"ndcg@10": None, "recall@10": 1.0})
    check = gate(base, unmeasured, 0.5)[0]
    assert not check.passed and check.note == "unmeasured in the candidate run"


@pytest.fixture
def store_with_runs(tmp_path):
    store = SqliteStore(tmp_path / "data" / "ragwright.db")
    store.save_eval_run(make_run("base", [0.6, 0.6, 0.6], recall=[1, 1, 1]))
    store.save_eval_run(make_run("other-data", [0.1, 0.1, 0.1], recall=[1, 1, 1], dataset_hash="h2"))
    store.save_eval_run(make_run("worse", [0.55, 0.58, 0.6], recall=[1, 1, 1]))
    store.close()
    return tmp_path / "data"


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_gate_exit_codes(store_with_runs, tmp_path):
    d = ("--data-dir", store_with_runs)
    res = invoke("eval", "gate", "--baseline", "base", *d)  # newest run like the baseline: "worse"
    assert res.exit_code == 1, res.output
    assert "FAIL ndcg@10" in res.output and "REGRESSION: worse" in res.output
    assert invoke("eval", "gate", "--baseline", "base", "--max-drop", "0.05", *d).exit_code == 0
    assert invoke("eval", "gate", "--baseline", "base", "--metric", "recall@10", *d).exit_code == 0
    mixed = invoke("eval", "gate", "--baseline", "base", "--candidate", "other-data", *d)
    assert mixed.exit_code == 2 and "different data" in mixed.output
    assert invoke("eval", "gate", "--baseline", "nope", *d).exit_code == 2
    saved = tmp_path / "baseline.json"  # a baseline kept in the repository, as CI would
    shown = invoke("eval", "show", "base", "--json", *d)
    saved.write_text(shown.stdout)
    res = invoke("eval", "gate", "--baseline", saved, "--candidate", "worse", "--json", *d)
    data = json.loads(res.stdout)
    assert res.exit_code == 1 and data["passed"] is False and data["baseline"] == "base"
    assert {c["metric"]: c["passed"] for c in data["checks"]} == {"ndcg@10": False, "recall@10": True}


def test_cli_compare(store_with_runs):
    res = invoke("eval", "compare", "base", "worse", "--json", "--data-dir", store_with_runs)
    data = json.loads(res.stdout)
    assert res.exit_code == 0 and data["primary"] == "ndcg@10"
    assert [c["query_id"] for c in data["changed"]] == ["q0", "q1"]
    text = invoke("eval", "compare", "base", "other-data", "--data-dir", store_with_runs).output
    assert "different data" in text and "-0.5000" in text


pytest_plugins = ["pytester"]


def test_pytest_plugin_fixture(pytester, tmp_path):
    from tests.evaluate.test_retrieval_eval import make_beir

    data = make_beir(tmp_path / "tiny")
    pytester.makepyfile(f"""
        def test_quality(ragwright_eval):
            run = ragwright_eval.retrieval({str(data)!r}, pipeline="bm25")
            ragwright_eval.assert_at_least(run, {{"recall@10": 0.9}})
            ragwright_eval.assert_no_regression(run, baseline=run.to_dict())

        def test_floor_fails(ragwright_eval):
            run = ragwright_eval.retrieval({str(data)!r}, pipeline="bm25")
            ragwright_eval.assert_at_least(run, {{"ndcg@10": 1.01}})
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*below the floor: ndcg@10*"])


def test_cli_report_writes_one_offline_page(store_with_runs, tmp_path):
    page = tmp_path / "out" / "report.html"
    page.parent.mkdir()
    res = invoke("eval", "report", "base", "worse", "--out", page, "--data-dir", store_with_runs)
    assert res.exit_code == 0, res.output
    html = page.read_text(encoding="utf-8")
    assert (
        html.count("<svg") == 2
        and "base" in html
        and "worse" in html
        and "http" not in html.lower().replace("http-equiv", "")
    )
    assert not list(page.parent.glob("*.tmp"))
    assert invoke("eval", "report", "missing-run", "--out", page, "--data-dir", store_with_runs).exit_code == 2
