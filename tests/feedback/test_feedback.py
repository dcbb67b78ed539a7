"""Feedback: stored against traces, durable before the reply (kill -9 right after it), validated,
and exported as a BEIR dataset that `ragwright eval` runs on."""

import signal

import pytest

from ragwright.evaluate import load_beir
from ragwright.feedback import export_dataset, record_feedback
from ragwright.store import SqliteStore
from tests.conftest import SAMPLE_CORPUS
from tests.server.live import LiveServer


def test_records_and_validates(workspace, corpus):
    workspace.ingest([corpus])
    answer = workspace.ask("How many vacation days do full-time employees get?")
    trace = workspace.store.get_trace(answer.trace_id)
    chunk = answer.citations[0].chunk_id
    fid = record_feedback(
        workspace.store,
        trace,
        key_id=None,
        tenant="default",
        rating="up",
        correction="Full-time employees get 25 days.",
        marks=[{"chunk_id": chunk, "relevant": True}],
    )
    (fb,) = workspace.store.list_feedback()
    assert fb["feedback_id"] == fid and fb["rating"] == 1.0 and fb["rating_scale"] == "updown"
    assert fb["query"] == answer.question and fb["marks"][0]["doc_id"] == answer.citations[0].doc_id
    assert fb["cited"] == [c.doc_id for c in answer.citations][: len(fb["cited"])]
    for bad, message in [
        ({}, "needs a rating"),
        ({"rating": 9}, "1 to 5"),
        ({"marks": [{"chunk_id": "nope#1", "relevant": True}]}, "no chunk"),
    ]:
        with pytest.raises(ValueError, match=message):
            record_feedback(workspace.store, trace, key_id=None, tenant=None, **bad)


def test_export_is_a_dataset_eval_runs_on(workspace, corpus, tmp_path):
    workspace.ingest([corpus])
    questions = {
        "How many vacation days do full-time employees get?": "leave-policy.md",
        "What is the daily meal allowance abroad?": "expenses.html",
    }
    for question, source in questions.items():
        answer = workspace.ask(question)
        trace = workspace.store.get_trace(answer.trace_id)
        good = next(d.doc_id for d in workspace.documents() if d.source.endswith(source))
        bad = next(d.doc_id for d in workspace.documents() if not d.source.endswith(source))
        record_feedback(
            workspace.store,
            trace,
            key_id=None,
            tenant=None,
            correction=f"See {source}.",
            marks=[{"doc_id": good, "relevant": True}, {"doc_id": bad, "relevant": False}],
        )
    counts = export_dataset(workspace.store, tmp_path / "fb")
    assert counts == {"tenant": "default", "documents": 6, "queries": 2, "judged_queries": 2, "answer_cases": 2}
    ds = load_beir(tmp_path / "fb")
    assert sorted(ds.queries.values()) == sorted(questions) and all(
        sorted(r.values()) == [0, 1] for r in ds.qrels.values()
    )
    assert len(list(ds.corpus())) == 6
    run = workspace.evaluate_retrieval(tmp_path / "fb", pipeline="default")
    assert run.n_queries == 2 and run.metrics["recall@10"] == 1.0
    answers = workspace.evaluate_answers(tmp_path / "fb", split="answers")
    assert answers.n_queries == 2 and answers.coverage["answer_similarity"]["measured"] == 2


@pytest.mark.slow
def test_feedback_survives_kill_9_right_after_the_response(tmp_path):
    server = LiveServer(tmp_path / "data")
    key = server.key("acme", "read,write")
    server.start()
    with server.client(key) as c:
        up = c.post("/v1/documents", files=[("file", ("leave.md", (SAMPLE_CORPUS / "leave-policy.md").read_bytes()))])
        server.wait_job(c, up.json()["job_id"])
        answer = c.post("/v1/ask", json={"question": "How many vacation days do full-time employees get?"}).json()
        chunk = answer["citations"][0]["chunk_id"]
        res = c.post(
            "/v1/feedback",
            json={
                "trace_id": answer["trace_id"],
                "rating": "down",
                "correction": "It is 25 days.",
                "marks": [{"chunk_id": chunk, "relevant": True}],
            },
        )
        server.proc.send_signal(signal.SIGKILL)  # no chance to flush anything after the reply
    server.proc.wait()
    assert res.status_code == 201
    store = SqliteStore(server.data_dir / "ragwright.db")
    (fb,) = store.list_feedback()
    store.close()
    assert fb["feedback_id"] == res.json()["feedback_id"] and fb["correction"] == "It is 25 days."
    assert fb["marks"][0]["chunk_id"] == chunk and fb["rating"] == 0.0 and fb["tenant"] == "acme"


@pytest.mark.slow
def test_feedback_and_traces_over_http(tmp_path):
    server = LiveServer(tmp_path / "data")
    alice, bob = server.key("acme", "read,write"), server.key("acme", "read")
    admin = server.key("acme", "read,admin")
    server.start()
    try:
        with server.client(alice) as a, server.client(bob) as b, server.client(admin) as adm:
            up = a.post(
                "/v1/documents", files=[("file", ("leave.md", (SAMPLE_CORPUS / "leave-policy.md").read_bytes()))]
            )
            server.wait_job(a, up.json()["job_id"])
            answer = a.post("/v1/ask", json={"question": "How many vacation days?"}).json()
            tid = answer["trace_id"]
            assert a.get(f"/v1/traces/{tid}").json()["name"] == "ask"
            assert b.get(f"/v1/traces/{tid}").status_code == 404  # another key's trace is not bob's to read
            assert adm.get(f"/v1/traces/{tid}").status_code == 200
            assert tid in [t["trace_id"] for t in a.get("/v1/traces").json()["traces"]]
            assert tid not in [t["trace_id"] for t in b.get("/v1/traces").json()["traces"]]
            assert b.post("/v1/feedback", json={"trace_id": tid, "rating": "up"}).status_code == 404
            assert a.post("/v1/feedback", json={"trace_id": tid}).status_code == 422
            assert a.post("/v1/feedback", json={"trace_id": tid, "rating": 4}).status_code == 201
    finally:
        server.stop()
