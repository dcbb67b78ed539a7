"""A trace names every document whose text it holds (Trace.doc_ids, the store's trace_docs), so
that deleting one deletes the trace. Attack (review 12): an extractive answer read from a reserve
passage (generate/further.py, step 2) quoted a document the trace did not name; after
DELETE /v1/documents/<it>, GET /v1/traces/<the ask> still returned the deleted text."""

from __future__ import annotations

import numpy as np

from ragwright.config import AnswerSettings
from ragwright.errors import ModelError
from ragwright.generate.answerer import Answerer
from ragwright.generate.refusal import Thresholds
from ragwright.models.types import ChatResult
from ragwright.observe.tracing import Trace, start_trace
from ragwright.retrieve.retriever import Retrieval
from ragwright.types import SearchResult

ASKED = "If my job never sets a retry policy, which one does it get?"
CONTEXT = (
    "The standard defines four retry policies. The strictest is Patient, which waits for every "
    "worker. The other three are defined by how often a job may be retried."
)
RESERVE = "Each job has a retry policy. This parameter controls the policy of each new job. The default is Eager."


def _hit(doc_id: str, text: str, chunk: str, dense: float = 0.6) -> SearchResult:
    return SearchResult(doc_id, chunk, f"{doc_id}.html", 1.0, text, heading_path=["Retries"], dense_score=dense)


class _Failing:
    """A model that always fails: the answer falls back to the extractive one (as the agent's does)."""

    name = "failing"

    def complete(self, messages: object, **_: object) -> ChatResult:
        raise ModelError("the provider is down")


def _traced_answer(model=None) -> tuple[Trace, object]:
    sure = Thresholds(0.3, chunk_sure=0.5)
    answerer = Answerer(None, AnswerSettings(), model, thresholds=sure)  # type: ignore[arg-type]
    retrieval = Retrieval(
        [_hit("ctx", CONTEXT, "ctx#0")],
        np.zeros(384, np.float32),
        [_hit("other", "Jobs run in order.", "other#0"), _hit("reserve", RESERVE, "reserve#0")],
    )
    saved: list[Trace] = []
    with start_trace("ask", input={"question": ASKED}, sink=saved.append):
        answer = answerer.answer(ASKED, retrieval)
    return saved[0], answer


def test_a_trace_names_the_reserve_document_its_extractive_answer_quotes():
    trace, answer = _traced_answer()
    assert "The default is Eager" in answer.answer and answer.citations[0].doc_id == "reserve"  # the attack's premise
    assert "Eager" in str(trace.to_dict())  # the trace holds the reserve's text ...
    assert "reserve" in trace.doc_ids  # ... so deleting "reserve" must delete the trace
    assert "ctx" in trace.doc_ids


def test_the_fallback_after_a_failing_model_names_what_it_quotes_too():
    trace, answer = _traced_answer(_Failing())
    assert answer.fallback and "The default is Eager" in answer.answer
    assert {"reserve", "ctx"} <= trace.doc_ids
