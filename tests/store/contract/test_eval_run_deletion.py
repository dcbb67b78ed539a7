"""Evaluation runs and true deletion (review 16, E): a run whose cases quote a document keeps its
figures and the ids it measured, but not the document's text, once the document is deleted or its
content replaced; cases that do not name it are left as they were."""

from __future__ import annotations

import copy
import json

from ragwright.store.records import REDACTED

from .backends import document

SECRET = "Bluebird merger closes on 14 March at 812 million"
DOC = "deal-qx7"


def answers_run(run_id: str = "r-answers") -> dict:
    """An answers run as evaluate_answers makes it: one case citing DOC, one whose qrels name DOC
    but which cites k, one only about k."""
    cases = {
        "q1": {
            "query": "When does the merger close?",
            "answer": f"The {SECRET} [1].",
            "abstained": False,
            "cited": [DOC],
            "relevant": {DOC: 1},
            "gold": None,
            "verdict": None,
            "unmeasured": {"correctness": f"judge reply not understood (no JSON 'label'): {SECRET}"},
        },
        "q2": {
            "query": "What is the price?",
            "answer": f"It is 812 million, as the {SECRET} note says [1].",
            "abstained": False,
            "cited": ["k"],
            "relevant": {DOC: 1},
            "gold": None,
            "verdict": None,
            "unmeasured": {},
        },
        "q3": {
            "query": "When is the lab open?",
            "answer": "The lab is open on Monday [1].",
            "abstained": False,
            "cited": ["k"],
            "relevant": {"k": 1},
            "gold": None,
            "verdict": None,
            "unmeasured": {"correctness": "no gold label for this query"},
        },
    }
    per_query = {q: {"citation_precision": 1.0, "faithfulness": 0.5, "abstention": 0.0} for q in cases}
    return {
        "run_id": run_id,
        "created_at": "2026-12-07T18:00:00+00:00",
        "kind": "answers",
        "dataset": "fb",
        "split": "answers",
        "pipeline": "extractive",
        "dataset_hash": "h",
        "code_version": "t",
        "config": {},
        "metrics": {"citation_precision": 1.0, "faithfulness": 0.5},
        "per_query": per_query,
        "seconds": 1.0,
        "coverage": {"faithfulness": {"measured": 3, "unmeasured": 0, "reasons": {}}},
        "cases": cases,
        "tenant": "acme",
    }


def retrieval_run() -> dict:
    cases = {
        "q1": {
            "query": "When does the merger close?",
            "relevant": {DOC: 1},
            "retrieved": [
                {"doc_id": DOC, "score": 0.9, "title": f"Deal: {SECRET}", "grade": 1},
                {"doc_id": "k", "score": 0.2, "title": "Lab hours", "grade": 0},
            ],
        }
    }
    return {
        **answers_run("r-retrieval"),
        "kind": "retrieval",
        "pipeline": "default",
        "split": "test",
        "metrics": {"ndcg@10": 1.0},
        "per_query": {"q1": {"ndcg@10": 1.0}},
        "cases": cases,
    }


def stored(store) -> None:
    store.write_documents(
        [document(DOC, [f"The {SECRET}."], tenant="acme", title=f"Deal: {SECRET}"), document("k", ["The lab."])]
    )
    store.save_eval_run(answers_run())
    store.save_eval_run(retrieval_run())
    assert SECRET in json.dumps(store.get_eval_run("r-answers")["cases"])


def check_forgotten(store) -> None:
    answers, retrieval = store.get_eval_run("r-answers"), store.get_eval_run("r-retrieval")
    before, before_r = answers_run(), retrieval_run()
    assert SECRET not in json.dumps(answers) and SECRET not in json.dumps(retrieval)
    for run, made in ((answers, before), (retrieval, before_r)):  # the figures and ids stay
        for field in ("metrics", "per_query", "coverage", "tenant", "kind"):
            assert run[field] == made[field], field
    q1, q2, q3 = (answers["cases"][q] for q in ("q1", "q2", "q3"))
    assert q1["answer"] == "" and q1["redacted"] == REDACTED and q1["cited"] == [DOC]
    assert q1["unmeasured"] == {"correctness": "judge reply not understood (no JSON 'label')"}
    assert q2["answer"] == "" and q2["redacted"] == REDACTED  # asked about DOC, cited another
    assert q3 == before["cases"]["q3"]  # about k only: untouched
    hits = retrieval["cases"]["q1"]["retrieved"]
    assert [(h["doc_id"], h["title"], h["score"]) for h in hits] == [(DOC, "", 0.9), ("k", "Lab hours", 0.2)]


def test_a_deleted_documents_text_leaves_evaluation_runs_and_their_figures_stay(backend):
    store = backend.open()
    stored(store)
    assert store.delete_document(DOC) is True
    check_forgotten(store)
    assert SECRET not in backend.all_rows_text(), "a table still holds the deleted text"
    other = backend.open()  # another process reads the same
    assert other.get_eval_run("r-answers") == store.get_eval_run("r-answers")


def test_a_replaced_versions_text_leaves_evaluation_runs(backend):
    store = backend.open()
    stored(store)
    store.write_documents([document(DOC, ["The deal is off."], tenant="acme", title="Deal")])
    check_forgotten(store)
    assert SECRET not in backend.all_rows_text(), "a table still holds the replaced text"
    kept = copy.deepcopy(store.get_eval_run("r-answers"))
    store.write_documents([document(DOC, ["The deal is off."], tenant="acme", title="Deal")])  # unchanged
    assert store.get_eval_run("r-answers") == kept


def test_runs_that_do_not_name_the_document_are_not_rewritten(backend):
    store = backend.open()
    store.write_documents([document(DOC, [f"The {SECRET}."]), document("k", ["The lab."])])
    run = answers_run()
    run["cases"] = {"q3": run["cases"]["q3"]}
    store.save_eval_run(run)
    store.delete_document(DOC)
    assert store.get_eval_run("r-answers")["cases"] == run["cases"]


def test_the_deleted_text_is_not_in_the_sqlite_file(tmp_path):
    """The rewritten run's old page is overwritten (secure_delete) and the WAL folded back."""
    from ragwright.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "store.db")
    stored(store)
    store.delete_document(DOC)
    files = b"".join(p.read_bytes() for p in tmp_path.glob("store.db*"))
    store.close()
    assert SECRET.encode() not in files and b"Bluebird" not in files


def test_a_document_whose_id_is_not_ascii_is_found_in_the_runs(backend):
    """Runs are stored as ASCII-escaped JSON: the search for the id must be escaped alike."""
    store = backend.open()
    odd = "résumé-ana"
    store.write_documents([document(odd, [f"The {SECRET}."])])
    run = answers_run()
    run["cases"]["q1"]["cited"], run["cases"]["q1"]["relevant"] = [odd], {odd: 1}
    store.save_eval_run(run)
    store.delete_document(odd)
    assert store.get_eval_run("r-answers")["cases"]["q1"]["answer"] == ""
