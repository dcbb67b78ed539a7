"""An evaluation run saved after one of the documents it read was deleted or replaced.

The race left by 9de6af2: a run made from this store's documents (a feedback dataset) is checked
at its end, then saved; a deletion landing between the two had already cleared the stored runs,
and this one came after it, quoting the deleted text. A run now says which documents of the
store it read, at which version (run["sources"], as traces and cached replies do), and
save_eval_run takes out of its cases, in the transaction that writes it, what it holds of those
no longer stored or no longer at that version (store/records.py, forget_in_cases, as a deletion
does). The run and its figures are kept; a run whose documents are all current is stored as
given, byte for byte."""

from __future__ import annotations

import copy
import json

from ragwright.store.records import REDACTED

from .backends import document
from .test_eval_run_deletion import DOC, SECRET, answers_run, retrieval_run

OLD = document(DOC, [f"The {SECRET}."], tenant="acme", title=f"Deal: {SECRET}")
NEW = document(DOC, ["The deal is off."], tenant="acme", title="Deal")


def _prepared(backend, sources=None):
    """Store a (the process running the evaluation) holds DOC and k and reads their versions; the
    runs it made name them (sources); store b (another process) is where the change comes from."""
    a, b = backend.open(), backend.open()
    a.write_documents([OLD, document("k", ["The lab."], tenant="acme")])
    read = {d.doc_id: d.content_hash for d in a.list_documents()}
    runs = [answers_run(), retrieval_run()]
    for run in runs:
        run["sources"] = read if sources is None else sources
    return a, b, runs


def _raw(backend, run_id: str) -> tuple:
    """The stored JSON columns of a run, as text, straight from the database."""
    mark = "?" if backend.name == "sqlite" else "%s"
    sql = f"SELECT config, metrics, per_query, coverage, cases FROM eval_runs WHERE run_id = {mark}"
    if backend.name == "sqlite":
        import sqlite3

        conn = sqlite3.connect(backend.path)
        try:
            return conn.execute(sql, (run_id,)).fetchone()
        finally:
            conn.close()
    return backend._query(sql, (run_id,))[0]


def _check_redacted(store, given: dict, given_r: dict) -> None:
    answers, retrieval = store.get_eval_run("r-answers"), store.get_eval_run("r-retrieval")
    assert SECRET not in json.dumps(answers) and SECRET not in json.dumps(retrieval)
    for run, made in ((answers, given), (retrieval, given_r)):  # the run and its figures stay
        for field in ("metrics", "per_query", "coverage", "config", "tenant", "kind", "created_at"):
            assert run[field] == made[field], field
        assert "sources" not in run
    q1, q2, q3 = (answers["cases"][q] for q in ("q1", "q2", "q3"))
    assert q1["answer"] == "" and q1["redacted"] == REDACTED and q1["cited"] == [DOC]
    assert q1["unmeasured"] == {"correctness": "judge reply not understood (no JSON 'label')"}
    assert q2["answer"] == "" and q2["redacted"] == REDACTED
    assert q3 == given["cases"]["q3"]
    hits = retrieval["cases"]["q1"]["retrieved"]
    assert [(h["doc_id"], h["title"]) for h in hits] == [(DOC, ""), ("k", "Lab hours")]


def test_a_run_saved_after_its_document_was_deleted_does_not_keep_its_text(backend):
    a, b, (run, run_r) = _prepared(backend)
    given, given_r = copy.deepcopy(run), copy.deepcopy(run_r)
    assert b.delete_document(DOC) is True  # lands after the run's own end check, before its save
    a.save_eval_run(run)
    a.save_eval_run(run_r)
    for store in (a, b):
        _check_redacted(store, given, given_r)
    assert SECRET not in backend.all_rows_text(), "a table holds the deleted text"
    assert (run, run_r) == (given, given_r), "the caller's run was changed"


def test_a_run_saved_after_its_document_was_replaced_does_not_keep_the_old_text(backend):
    a, b, (run, run_r) = _prepared(backend)
    given, given_r = copy.deepcopy(run), copy.deepcopy(run_r)
    b.write_documents([NEW])
    a.save_eval_run(run)
    a.save_eval_run(run_r)
    _check_redacted(b, given, given_r)
    assert SECRET not in backend.all_rows_text(), "a table holds the replaced text"


def test_a_run_whose_documents_are_current_is_stored_byte_identical(backend):
    a, b, (run, run_r) = _prepared(backend)
    b.write_documents([document("other", ["Unrelated."], tenant="acme")])  # a change to another document
    a.save_eval_run(run)
    a.save_eval_run(run_r)
    for made in (run, run_r):
        expected = tuple(json.dumps(made[c]) for c in ("config", "metrics", "per_query", "coverage", "cases"))
        assert _raw(backend, made["run_id"]) == expected
        stored = b.get_eval_run(made["run_id"])
        assert stored == {k: v for k, v in made.items() if k != "sources"}
        assert SECRET in json.dumps(stored["cases"])  # the document is still stored as read: nothing to take


def test_a_run_that_names_no_sources_is_not_checked(backend):
    """A BEIR run: its cases name the documents of its own corpus, not of this store; they are
    not this store's to redact (and none of them is stored here)."""
    store = backend.open()
    run = answers_run()
    store.save_eval_run(run)
    assert _raw(backend, "r-answers")[4] == json.dumps(run["cases"])
    assert store.get_eval_run("r-answers")["cases"]["q1"]["answer"] == run["cases"]["q1"]["answer"]


def test_sources_without_versions_are_held_to_being_stored(backend):
    """A run that names its documents without versions (a list of ids) is held to their being
    stored: a deletion takes their text out, a replacement does not (the version is unknown)."""
    a, b, (run, _) = _prepared(backend, sources=[DOC, "k"])
    b.write_documents([NEW])
    a.save_eval_run(run)
    assert a.get_eval_run("r-answers")["cases"] == run["cases"]

    a2, b2, (late, _) = _prepared(backend, sources=[DOC, "k"])
    late["run_id"] = "r-late"
    b2.delete_document(DOC)
    a2.save_eval_run(late)
    q1 = a2.get_eval_run("r-late")["cases"]["q1"]
    assert q1["answer"] == "" and q1["redacted"] == REDACTED
