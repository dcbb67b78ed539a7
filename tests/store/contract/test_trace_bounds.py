"""What a stored trace may hold, and what a list of traces sends: bounded on every backend.
Review 16 (finding A): a streamed chat built its Trace by hand, past observe.tracing's clip, and
kept four 250,000-character messages; GET /v1/traces returned every trace's whole input (200
such traces: one 200 MB response). The store now bounds whatever trace it is given, and a list
holds a summary of each input; the whole (bounded) trace is read by its id."""

from __future__ import annotations

import json
import time

from ragwright.observe.tracing import MAX_SPANS, MAX_TEXT, MAX_TRACE_TEXT, Span, Trace

from .backends import document

BIG = 250_000


def _by_hand(trace_id: str, **input: object) -> Trace:
    """A trace built as the streamed chat builds its own: no start_trace, no clip on the way in."""
    return Trace(trace_id, "chat", time.time(), dict(input), tenant="acme", key_id="k1")


def test_a_trace_built_by_hand_is_stored_clipped_and_bounded_in_all(store):
    store.write_documents([document("a", ["Alpha."])])
    deep: object = "d" * BIG
    for _ in range(40):
        deep = [deep]
    trace = _by_hand("t1", model="m", stream=True, messages=["x" * BIG] * 4, deep=deep)
    trace.output = {"text": "y" * BIG, "calls": [{"arguments": "z" * BIG}]}
    trace.error = "e" * BIG
    trace.doc_ids = {"a"}
    trace.spans = [
        Span(f"s{i}", None, "model.attempt", time.time(), 1.0, {"prompt": "p" * BIG, "ids": ["w" * 100] * 5000})
        for i in range(MAX_SPANS + 500)
    ]
    store.save_trace(trace)
    got = store.get_trace("t1")
    assert got is not None
    size = len(json.dumps(got))
    assert size < 2 * MAX_TRACE_TEXT, f"a stored trace of {size:,} characters"
    assert [len(m) for m in got["input"]["messages"]] == [MAX_TEXT + 1] * 4
    assert got["input"]["messages"][0].startswith("x" * 1000) and got["input"]["messages"][0].endswith("…")
    assert (got["input"]["model"], got["input"]["stream"]) == ("m", True)
    assert len(got["output"]["text"]) == MAX_TEXT + 1 and len(got["output"]["calls"][0]["arguments"]) == MAX_TEXT + 1
    assert len(got["error"]) == MAX_TEXT + 1
    assert "d" * (MAX_TEXT + 1) not in json.dumps(got["input"]["deep"])  # however deep it is nested
    assert got["doc_ids"] == ["a"]  # what deletion reads is kept whole
    spans = got["spans"]
    assert 0 < len(spans) < MAX_SPANS and got["spans_dropped"] == MAX_SPANS + 500 - len(spans)
    assert spans[0]["span_id"] == "s0" and len(spans[0]["attributes"]["prompt"]) <= MAX_TEXT + 1
    assert store.delete_document("a") is True and store.get_trace("t1") is None  # and it still goes with "a"


def test_a_small_trace_is_stored_as_it_was_given(store):
    trace = _by_hand("t1", question="What is alpha?", k=5, filters={"tenant": ["acme"]})
    trace.output = {"answer": "Alpha.", "citations": [{"n": 1, "doc_id": "a", "chunk_id": "a#0"}]}
    trace.spans = [Span("s1", None, "retrieve", 1.0, 2.0, {"hits": [{"doc_id": "a", "score": 0.5}], "mode": "hybrid"})]
    store.save_trace(trace)
    got = store.get_trace("t1")
    assert got["input"] == {"question": "What is alpha?", "k": 5, "filters": {"tenant": ["acme"]}}
    assert got["output"] == trace.output and got["spans"][0]["attributes"] == trace.spans[0].attributes
    assert "spans_dropped" not in got


def test_a_list_of_traces_holds_a_summary_of_each_input(store):
    question = "q" * 5000
    store.save_trace(
        _by_hand(
            "t1", question=question, k=5, agent=True, ratio=0.5, none=None, messages=["m" * 4000] * 4, filters={"a": 1}
        )
    )
    (listed,) = store.list_traces(tenant="acme")
    assert listed["input"] == {"question": "q" * 200 + "…", "k": 5, "agent": True, "ratio": 0.5, "none": None}
    assert list(listed["input"]) == ["question", "k", "agent", "ratio", "none"]  # in the input's order
    whole = store.get_trace("t1")
    assert whole["input"]["question"] == question[:MAX_TEXT] + "…" and len(whole["input"]["messages"]) == 4


def test_a_list_of_large_chat_traces_stays_small(store):
    for i in range(100):
        store.save_trace(_by_hand(f"t{i}", model="m", stream=True, messages=["x" * BIG] * 4))
    listed = store.list_traces(tenant="acme", limit=1000)
    size = len(json.dumps(listed))
    assert len(listed) == 100 and size < 100 * 500, f"a list of 100 traces of {size:,} characters"
    assert {json.dumps(t["input"], sort_keys=True) for t in listed} == {'{"model": "m", "stream": true}'}
