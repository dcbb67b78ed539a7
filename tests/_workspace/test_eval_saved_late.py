"""A feedback run's document deleted after the run's end check and before it is saved (the race
9de6af2 left): the run says which of the store's documents it read, at which version
(SourcedRun.sources), and save_eval_run takes their text out of it in its transaction. Run in two
steps here, as Workspace.evaluate_answers runs it (the run, then save_eval_run), with the
deletion between them. On SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from ragwright import Settings, Workspace
from ragwright._workspace.evaluation import SourcedRun, answers_run, retrieval_run
from ragwright.feedback import export_dataset, record_feedback
from ragwright.feedback.dataset import run_tenant
from ragwright.store.records import REDACTED
from tests.stores import BACKENDS, store_url

QUESTION = "How many vacation days do full-time employees get?"


@pytest.fixture(params=BACKENDS)
def ws(request, tmp_path, embedder):
    with store_url(request.param, request) as url:
        workspace = Workspace(settings=Settings(data_dir=tmp_path / "data", store={"url": url}), embedder=embedder)
        yield workspace
        workspace.close()


def test_a_document_deleted_between_the_runs_end_and_its_save_leaves_the_run(ws, corpus, tmp_path):
    ws.ingest([corpus])
    answer = ws.ask(QUESTION)
    cited = answer.citations[0].doc_id
    record_feedback(
        ws.store,
        ws.store.get_trace(answer.trace_id),
        key_id=None,
        tenant=None,
        correction="Full-time employees get 25 days.",
        marks=[{"doc_id": cited, "relevant": True}],
    )
    export_dataset(ws.store, tmp_path / "fb")
    quoted = answer.citations[0].text.strip()[:60]
    title = ws.store.get_document(cited).title
    parts = ws._eval_parts()  # what Workspace.evaluate_* hands the run

    untouched = retrieval_run(parts, tmp_path / "fb", "test", "default", None)
    assert isinstance(untouched, SourcedRun) and untouched.sources[cited] == ws.store.get_document(cited).content_hash
    ws.store.save_eval_run({**untouched.to_dict(), "tenant": run_tenant(tmp_path / "fb", None)})
    stored = ws.store.get_eval_run(untouched.run_id)
    assert stored == {**{k: v for k, v in untouched.to_dict().items() if k != "sources"}, "tenant": "default"}
    assert title in json.dumps(stored["cases"])  # nothing was deleted: the run is as made

    retrieval = retrieval_run(parts, tmp_path / "fb", "test", "default", None)
    answers = answers_run(
        parts, tmp_path / "fb", "answers", limit=None, judge_model=None, gold_file=None, concurrency=1, progress=None
    )
    (case,) = answers.cases.values()
    assert quoted in case["answer"] and cited in answers.sources

    ws.delete(cited)  # after the runs' end checks, before their saves
    for run in (retrieval, answers):
        ws.store.save_eval_run({**run.to_dict(), "tenant": run_tenant(tmp_path / "fb", None)})
    saved = ws.store.get_eval_run(answers.run_id)
    assert quoted not in json.dumps(saved), "the saved run quotes the deleted document"
    (kept,) = saved["cases"].values()
    assert kept["answer"] == "" and kept["redacted"] == REDACTED and kept["cited"] == case["cited"]
    assert saved["metrics"] == answers.metrics and saved["per_query"] == answers.per_query
    hits = [h for c in ws.store.get_eval_run(retrieval.run_id)["cases"].values() for h in c["retrieved"]]
    assert [h["title"] for h in hits if h["doc_id"] == cited] == [""] * sum(h["doc_id"] == cited for h in hits)
    assert any(h["doc_id"] == cited for h in hits)
