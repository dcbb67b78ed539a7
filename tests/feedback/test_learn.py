"""`ragwright learn`: relevance marks move what users found relevant up, versions are kept and
rolled back exactly, too little feedback or a failure changes nothing, deleted documents are
forgotten, and another process sees a new version without restarting."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ragwright.errors import NotFoundError
from ragwright.feedback import export_dataset, record_feedback
from ragwright.feedback.learn import NotEnoughFeedback, NotImproved, learn, rollback
from ragwright.feedback.train import AdapterTrainer
from ragwright.retrieve.adapter import active_model
from ragwright.store import SqliteStore
from tests.feedback.learn_corpus import DOCS, PAIRS


@pytest.fixture
def ws(workspace):
    workspace.ingest_records(DOCS)
    return workspace


def give_feedback(ws, pairs=PAIRS, k=5, rank=2):
    """Users of both phrasings of a question find its rank-3 result (as shipped) the relevant
    one, and say so about what they were shown; returns question -> that document."""
    targets = {}
    for question, variant in pairs:
        target = ws.search(question, k=k)[rank].doc_id
        targets[question] = target
        for text in (question, variant):
            results = ws.search(text, k=k)
            (row,) = ws.store.list_traces(limit=1, name="search")
            marks = [{"chunk_id": r.chunk_id, "relevant": r.doc_id == target} for r in results]
            if target not in {r.doc_id for r in results}:
                marks.append({"doc_id": target, "relevant": True})
            record_feedback(ws.store, ws.store.get_trace(row["trace_id"]), key_id=None, tenant=None, marks=marks)
    return targets


def rankings(ws, questions=None):
    return {q: [(r.chunk_id, r.score) for r in ws.search(q, k=8)] for q in questions or [p[0] for p in PAIRS]}


def rank_of(ws, question, doc_id):
    return [r.doc_id for r in ws.search(question, k=8)].index(doc_id)


def do_learn(ws, **kw):
    return learn(ws.store, ws.embedder, ws.settings.retrieval, **kw)


def test_marked_documents_move_up_and_the_report_says_what_changed(ws):
    targets = give_feedback(ws)
    assert all(rank_of(ws, q, d) == 2 for q, d in targets.items())
    report = do_learn(ws)
    assert report["version"] == 1 and report["previous_version"] is None
    assert report["feedback"]["queries"] == 12 and report["pairs"]["relevant"] == 12
    assert report["pairs"]["not_relevant"] == 48
    val = report["validation"]
    assert val["queries"] == 2 and val["fit_queries"] == 10
    assert val["ndcg@10_after"] > val["ndcg@10_before"] and val["wins"] >= 1 and val["losses"] == 0
    assert report["chosen"]["kind"] in ("memory", "adapter+memory")
    for question, target in targets.items():
        assert rank_of(ws, question, target) == 0, question
    hits = ws.search(PAIRS[0][0], k=3)
    trace = ws.store.get_trace(ws.store.list_traces(limit=1, name="search")[0]["trace_id"])
    learned = [s for s in trace["spans"] if s["name"] == "learned"]
    assert hits and learned and learned[0]["attributes"]["version"] == 1 and learned[0]["attributes"]["moved"] >= 1


def test_evaluation_applies_the_active_version_to_the_default_pipeline(ws, tmp_path):
    give_feedback(ws)
    export_dataset(ws.store, tmp_path / "fb")
    shipped = ws.evaluate_retrieval(tmp_path / "fb", pipeline="default")
    do_learn(ws)
    learned = ws.evaluate_retrieval(tmp_path / "fb", pipeline="default")
    reference = ws.evaluate_retrieval(tmp_path / "fb", pipeline="hybrid")
    assert shipped.config["learned"] == {"version": None} and learned.config["learned"]["version"] == 1
    assert reference.config["learned"] == {"version": None}
    assert shipped.metrics["ndcg@10"] < 0.6 and learned.metrics["ndcg@10"] == 1.0


def test_an_unrelated_query_is_not_moved_by_the_memory(ws):
    give_feedback(ws)
    question = "Are passwords required to be long?"
    before = [r.doc_id for r in ws.search(question, k=3)]
    do_learn(ws)
    model = active_model(ws.store).for_scope("")  # the operator's feedback, for the operator's searches
    vector = ws.embedder.embed([question])[0]
    assert model.boosts(vector) == {}
    assert next(r.doc_id for r in ws.search(question, k=3)) == before[0] == "it-passwords"


def test_versions_and_rollback_restore_exact_rankings(ws):
    shipped = rankings(ws)
    give_feedback(ws, PAIRS[:5])
    assert do_learn(ws)["version"] == 1
    first = rankings(ws)
    assert first != shipped
    give_feedback(ws, PAIRS[5:], rank=1)
    report = do_learn(ws, force=True)
    assert (report["version"], report["previous_version"]) == (2, 1)
    assert [(v["version"], v["active"], v["previous"]) for v in ws.store.list_learned()] == [
        (1, False, None),
        (2, True, 1),
    ]
    assert rankings(ws) != first
    assert rollback(ws.store) == {"rolled_back": 2, "active": 1}
    assert rankings(ws) == first
    assert rollback(ws.store) == {"rolled_back": 1, "active": None}
    assert rankings(ws) == shipped and ws.store.list_learned() == []
    with pytest.raises(NotFoundError, match="nothing to roll back"):
        rollback(ws.store)


@pytest.mark.parametrize("pairs", [0, 2])
def test_too_little_feedback_changes_nothing(ws, pairs):
    give_feedback(ws, PAIRS[:pairs])
    trace = ws.store.get_trace(ws.store.list_traces(limit=1)[0]["trace_id"]) if pairs else None
    if trace:  # ratings and corrections alone teach retrieval nothing
        record_feedback(ws.store, trace, key_id=None, tenant=None, rating="up", correction="fine")
    before = rankings(ws)
    with pytest.raises(
        NotEnoughFeedback, match=f"at least 5 queries with a relevant chunk; the feedback has {2 * pairs} "
    ):
        do_learn(ws)
    assert ws.store.list_learned() == [] and active_model(ws.store) is None and rankings(ws) == before


def test_a_failed_training_or_save_leaves_the_previous_version_active(ws, monkeypatch):
    give_feedback(ws)
    do_learn(ws)
    first = rankings(ws)
    give_feedback(ws, PAIRS[:3], rank=3)

    def broken(self, epochs):
        raise FloatingPointError("adapter training diverged")

    with monkeypatch.context() as m:
        m.setattr(AdapterTrainer, "run", broken)
        with pytest.raises(FloatingPointError):
            do_learn(ws, force=True)
    assert [(v["version"], v["active"]) for v in ws.store.list_learned()] == [(1, True)] and rankings(ws) == first

    def crash(*args):  # inside the saving transaction, after the new version's rows were written
        raise OSError("killed")

    with monkeypatch.context() as m:
        m.setattr(type(ws.store), "_activate", crash)
        with pytest.raises(OSError):
            do_learn(ws, force=True)
    assert [(v["version"], v["active"]) for v in ws.store.list_learned()] == [(1, True)] and rankings(ws) == first
    assert ws.store._one("SELECT count(*) FROM learned_marks WHERE version != 1")[0] == 0


def test_a_worse_result_is_not_activated(ws, monkeypatch):
    give_feedback(ws)
    monkeypatch.setattr("ragwright.feedback.learn.Learner._validate", lambda *a: (0.9, 0.5, {"q": (0.9, 0.5)}))
    with pytest.raises(NotImproved, match="nothing was changed") as caught:
        do_learn(ws)
    assert caught.value.report["validation"]["ndcg@10_after"] == 0.5
    assert ws.store.list_learned() == []


def test_deleted_documents_are_ignored_and_forgotten(ws):
    targets = give_feedback(ws)
    gone = targets[PAIRS[0][0]]
    before = ws.store.list_feedback()
    assert sum(m["doc_id"] == gone for fb in before for m in fb["marks"]) >= 2
    ws.delete(gone)
    # the feedback stays (query, rating, the marks on other documents) but no longer names the deleted one
    after = ws.store.list_feedback()
    assert [(fb["feedback_id"], fb["query"], fb["rating"]) for fb in after] == [
        (fb["feedback_id"], fb["query"], fb["rating"]) for fb in before
    ]
    assert [m for fb in after for m in fb["marks"]] == [m for fb in before for m in fb["marks"] if m["doc_id"] != gone]
    assert not any(gone in fb["cited"] for fb in after)
    assert (
        ws.store._one("SELECT count(*) FROM feedback WHERE marks LIKE ? OR cited LIKE ?", (f"%{gone}%", f"%{gone}%"))[0]
        == 0
    )
    report = do_learn(ws)
    assert report["feedback"]["marks_on_deleted_documents"] == 0 and report["pairs"]["relevant"] == 10
    assert ws.store._one("SELECT count(*) FROM learned_marks WHERE doc_id = ?", (gone,))[0] == 0
    other = targets[PAIRS[1][0]]
    assert ws.store._one("SELECT count(*) FROM learned_marks WHERE doc_id = ?", (other,))[0] > 0
    ws.delete(other)  # after learning: its marks go with it, in the same transaction
    assert ws.store._one("SELECT count(*) FROM learned_marks WHERE doc_id = ?", (other,))[0] == 0
    model = active_model(ws.store)
    assert not any(ref.startswith(other) or ref == "doc:" + other for marks in model.marks for ref in marks)
    assert other not in {r.doc_id for r in ws.search(PAIRS[1][0], k=8)}


def test_another_process_sees_a_new_version_and_a_rollback(ws):
    give_feedback(ws)
    reader = SqliteStore(ws.settings.db_path)  # what a running server holds
    try:
        assert active_model(reader) is None
        do_learn(ws)
        model = active_model(reader)
        assert model is not None and model.version == 1 and active_model(reader) is model  # cached
        rollback(ws.store)
        assert active_model(reader) is None
    finally:
        reader.close()


@pytest.mark.slow
def test_cli_learn_json_status_and_rollback(ws):
    give_feedback(ws)
    question, target = PAIRS[0][0], ws.search(PAIRS[0][0], k=3)[2].doc_id
    data = str(ws.settings.data_dir)
    ws.close()

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "ragwright", *args, "--data-dir", data], capture_output=True, text=True, timeout=300
        )

    proc = run("learn", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["activated"] is True and report["version"] == 1 and report["pairs"]["relevant"] == 12
    top = json.loads(run("search", question, "--k", "1", "--json").stdout)["results"][0]
    assert top["doc_id"] == target
    status = json.loads(run("learn", "--status", "--json").stdout)
    assert [(v["version"], v["active"]) for v in status["versions"]] == [(1, True)]
    proc = run("learn", "--rollback", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"rolled_back": 1, "active": None}
    assert json.loads(run("search", question, "--k", "1", "--json").stdout)["results"][0]["doc_id"] != target
    proc = run("learn", "--rollback")
    assert proc.returncode == 2 and "nothing to roll back" in proc.stderr
    assert np.isfinite(report["validation"]["ndcg@10_after"])
