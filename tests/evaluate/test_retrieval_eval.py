import json
import subprocess
import sys

import pytest

from ragwright.evaluate import DatasetError, load_beir

CORPUS = [
    ("d1", "Vacation", "Employees receive 25 days of paid vacation per year."),
    ("d2", "Meals", "The daily meal allowance is 80 euros abroad."),
    ("d3", "Security", "Report a lost laptop within one hour."),
    ("d4", "Parental leave", "Parents receive 16 weeks of paid parental leave."),
    ("d5", "Remote work", "Employees may work remotely three days per week."),
]
QUERIES = {
    "q1": "how much vacation do I get",
    "q2": "meal allowance when travelling abroad",
    "q3": "stolen laptop",
    "q4": "leave for new parents",
}
QRELS = {"q1": {"d1": 1}, "q2": {"d2": 2}, "q3": {"d3": 1}, "q4": {"d4": 1, "d1": 0}}


def make_beir(path):
    path.mkdir()
    (path / "qrels").mkdir()
    (path / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in CORPUS)
    )
    (path / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES.items()))
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, r in QRELS.items() for d, s in r.items()]
    (path / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return path


def test_load_beir(tmp_path):
    ds = load_beir(make_beir(tmp_path / "tiny"))
    assert ds.name == "tiny" and ds.queries["q3"] == "stolen laptop" and ds.qrels["q4"] == {"d4": 1, "d1": 0}
    assert [r.id for r in ds.corpus()] == ["d1", "d2", "d3", "d4", "d5"]
    with pytest.raises(DatasetError, match=r"qrels/train\.tsv not found"):
        load_beir(tmp_path / "tiny", "train")


def test_evaluate_retrieval_stores_the_run_and_reuses_its_index(workspace, tmp_path, embedder, monkeypatch):
    data = make_beir(tmp_path / "tiny")
    run = workspace.evaluate_retrieval(data, pipeline="hybrid")
    assert run.n_queries == 4 and set(run.metrics) == {"ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100"}
    assert run.metrics["recall@10"] == 1.0 and run.metrics["mrr@10"] >= 0.75
    stored = workspace.store.get_eval_run(run.run_id)
    assert stored["metrics"] == run.metrics and set(stored["per_query"]) == set(QUERIES)
    assert stored["dataset_hash"] == run.dataset_hash and stored["config"]["retrieval"]["rrf_k"] == 60
    embedded: list[str] = []
    real = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda texts: (embedded.extend(texts), real(texts))[1])
    again = workspace.evaluate_retrieval(data, pipeline="hybrid")
    assert again.metrics == run.metrics and again.run_id != run.run_id
    assert sorted(embedded) == sorted(QUERIES.values())  # the corpus was not embedded again
    assert [r["run_id"] for r in workspace.store.list_eval_runs()] == [run.run_id, again.run_id]
    with pytest.raises(ValueError, match="unknown pipeline"):
        workspace.evaluate_retrieval(data, pipeline="magic")


@pytest.mark.slow
def test_cli_eval_retrieval_json(tmp_path):
    data = make_beir(tmp_path / "tiny")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ragwright",
            "eval",
            "retrieval",
            "--data",
            str(data),
            "--pipeline",
            "bm25",
            "--data-dir",
            str(tmp_path / "d"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"dataset", "split", "pipeline", "n_queries", "metrics", "run_id"}
    assert (out["dataset"], out["split"], out["pipeline"], out["n_queries"]) == ("tiny", "test", "bm25", 4)
    assert set(out["metrics"]) == {"ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100"}
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "ragwright",
            "eval",
            "retrieval",
            "--data",
            str(tmp_path / "nope"),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "corpus.jsonl not found" in missing.stderr


def test_scifact_loads_with_its_published_counts():
    from tests.conftest import shared_data

    folder = shared_data("scifact")
    test, train = load_beir(folder, "test"), load_beir(folder, "train")
    assert (len(test.queries), sum(len(r) for r in test.qrels.values())) == (300, 339)
    assert (len(train.queries), sum(len(r) for r in train.qrels.values())) == (809, 919)
    assert not set(test.queries) & set(train.queries)
    assert sum(1 for _ in test.corpus()) == 5183
