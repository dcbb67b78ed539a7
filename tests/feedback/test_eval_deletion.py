"""Deletion reaches the evaluation made from feedback (review 16, E): the run made on a feedback
dataset keeps its figures but not a deleted document's text, no index holding the tenant's
documents is left under the data dir, and a dataset exported before the deletion is refused
rather than evaluated (its corpus.jsonl still holds the text). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragwright import Settings, Workspace
from ragwright.errors import RagwrightError
from ragwright.feedback import export_dataset, record_feedback
from tests.stores import BACKENDS, store_url

QUESTION = "How many vacation days do full-time employees get?"


@pytest.fixture(params=BACKENDS)
def ws(request, tmp_path, embedder):
    with store_url(request.param, request) as url:
        workspace = Workspace(settings=Settings(data_dir=tmp_path / "data", store={"url": url}), embedder=embedder)
        yield workspace
        workspace.close()


def holding(folder: Path, text: str) -> list[str]:
    """Files under `folder` whose bytes hold `text`."""
    files = (p for p in folder.rglob("*") if p.is_file())
    return sorted(str(p.relative_to(folder)) for p in files if text.encode() in p.read_bytes())


def test_deleting_a_document_reaches_the_feedback_evaluation(ws, corpus, tmp_path):
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
    quoted = answer.citations[0].text.strip()[:60]  # a passage of the cited document, as the answer quotes it
    data = Path(ws.settings.data_dir)

    retrieval = ws.evaluate_retrieval(tmp_path / "fb")
    answers = ws.evaluate_answers(tmp_path / "fb", split="answers")
    assert retrieval.metrics["recall@10"] == 1.0 and answers.n_queries == 1
    (case,) = answers.cases.values()
    assert quoted in case["answer"] and cited in case["cited"]
    # the evaluation index, a copy of the tenant's documents, is not kept after its run
    assert not [p for p in (data / "eval").glob("*") if p.is_dir()], "an evaluation index was left behind"

    ws.delete(cited)
    stored = ws.store.get_eval_run(answers.run_id)
    assert quoted not in json.dumps(stored), "the run still quotes the deleted document"
    (kept,) = stored["cases"].values()
    assert kept["answer"] == "" and kept["redacted"] and kept["cited"] == case["cited"]
    assert stored["metrics"] == answers.metrics and stored["per_query"] == answers.per_query
    titles = [h["title"] for c in ws.store.get_eval_run(retrieval.run_id)["cases"].values() for h in c["retrieved"]]
    deleted_title = next(h["title"] for c in retrieval.cases.values() for h in c["retrieved"] if h["doc_id"] == cited)
    assert deleted_title not in titles
    if not ws.settings.store.url:  # SQLite: the bytes, too (secure_delete, checkpoint)
        assert holding(data, quoted) == []

    # the export made before the deletion holds the text: evaluating it again is refused
    with pytest.raises(RagwrightError, match="export it again"):
        ws.evaluate_answers(tmp_path / "fb", split="answers")
    with pytest.raises(RagwrightError, match="deleted or replaced"):
        ws.evaluate_retrieval(tmp_path / "fb")
    assert len(ws.store.list_eval_runs()) == 2
    export_dataset(ws.store, tmp_path / "fb")
    again = ws.evaluate_retrieval(tmp_path / "fb")
    assert again.n_queries == 0 and quoted not in json.dumps(again.to_dict())
