"""Traces and feedback: what every store backend promises (store/contract/traces.py, feedback.py)."""

from __future__ import annotations

import json
import re
import time

from ragwright.observe.tracing import MAX_TEXT

from .backends import document, trace

T0 = time.time() - 60


def test_traces_list_newest_first_narrowed_by_tenant_key_and_name(store):
    now = time.time()
    store.save_trace(trace("t1", start=now - 3, tenant="acme", key_id="k1", input={"query": "alpha"}))
    store.save_trace(trace("t2", start=now - 2, tenant="other", key_id="k2", name="ask"))
    store.save_trace(trace("t3", start=now - 1, tenant="acme", key_id="k2", name="ask"))
    assert [t["trace_id"] for t in store.list_traces()] == ["t3", "t2", "t1"]
    assert [t["trace_id"] for t in store.list_traces(tenant="acme")] == ["t3", "t1"]
    assert [t["trace_id"] for t in store.list_traces(key_id="k2")] == ["t3", "t2"]
    assert [t["trace_id"] for t in store.list_traces(tenant="acme", name="search")] == ["t1"]
    assert [t["trace_id"] for t in store.list_traces(limit=1)] == ["t3"]
    first = store.list_traces(tenant="acme", name="search")[0]
    assert first["input"] == {"query": "alpha"} and first["tenant"] == "acme" and first["key_id"] == "k1"
    assert (first["duration_ms"], first["status"], first["input_tokens"], first["output_tokens"]) == (
        12.5,
        "ok",
        10,
        20,
    )
    assert abs(first["started_at"] - (now - 3)) < 1e-6


def test_a_trace_reads_back_whole_and_a_second_save_replaces_it(store):
    spans = [{"name": "bm25", "ms": 1.5, "attributes": {"k": 5, "ids": ["a#0"]}}]
    store.write_documents([document("a", ["Alpha."]), document("b", ["Beta."])])  # a trace quotes stored ones
    store.save_trace(trace("t1", start=T0, doc_ids=("b", "a"), spans=spans))
    got = store.get_trace("t1")
    assert got["spans"] == spans and got["doc_ids"] == ["a", "b"] and got["start"] == T0
    store.save_trace(trace("t1", start=T0 + 1, tenant="acme"))
    assert store.get_trace("t1")["tenant"] == "acme"
    assert len(store.list_traces()) == 1
    assert store.get_trace("nope") is None


def test_a_flushed_trace_is_seen_by_every_store_on_the_database(backend):
    a, b = backend.open(), backend.open()
    a.save_trace(trace("t1", start=time.time(), tenant="acme"))
    a.flush_traces()
    assert b.get_trace("t1")["tenant"] == "acme"
    assert [t["trace_id"] for t in b.list_traces(tenant="acme")] == ["t1"]


def test_the_redactor_applies_before_storing_and_old_traces_expire(store):
    store.trace_redactor = lambda data: {**data, "input": {"query": "[redacted]"}}
    store.trace_retention_days = 1.0
    store.save_trace(trace("old", start=time.time() - 3 * 86400))
    store.save_trace(trace("new", start=time.time(), input={"query": "secret words"}))
    assert store.get_trace("new")["input"] == {"query": "[redacted]"}
    assert store.get_trace("old") is None  # the first batch applies retention


def test_a_private_value_at_a_bound_is_redacted_whole_before_the_cut(store):
    """Review 16b, D: the trace was cut to its bounds before the redactor ran, so a value across
    the cut survived in part ("alice.secret@example…", 12 of a card's 16 digits), unrecognised.
    Now the redactor sees it whole and the bound is applied to what it leaves."""
    secret = re.compile(r"SECRET-\d{12}")
    store.trace_redactor = lambda data: json.loads(secret.sub("[redacted]", json.dumps(data)))
    for cut_into in (5, 12):  # the cut falls 5 and 12 characters into the value
        text = "x" * (MAX_TEXT - cut_into) + "SECRET-123456789012 and more"
        store.save_trace(trace(f"t{cut_into}", start=time.time(), input={"messages": [text]}))
        stored = store.get_trace(f"t{cut_into}")["input"]["messages"][0]
        assert "SECRE"[: min(cut_into, 5)] not in stored[-20:] and "12345" not in stored, stored[-30:]
        assert len(stored) <= MAX_TEXT + 1 and stored.startswith("x" * 100)


def test_the_exporter_gets_each_stored_batch(store):
    got: list[list[dict]] = []
    store.trace_exporter = got.append
    store.save_trace(trace("t1", start=time.time()))
    store.flush_traces()
    deadline = time.time() + 5
    while not got and time.time() < deadline:
        time.sleep(0.01)
    assert [[d["trace_id"] for d in batch] for batch in got] == [["t1"]]


def test_feedback_lists_oldest_first_per_tenant(store):
    marks = [{"doc_id": "a", "chunk_id": "a#0", "relevant": True}]
    store.save_feedback(
        "f1",
        "t1",
        key_id="k1",
        tenant="acme",
        query="what is alpha?",
        rating=1.0,
        rating_scale="thumbs",
        correction=None,
        marks=marks,
        cited=["a"],
    )
    store.save_feedback(
        "f2",
        "t2",
        key_id=None,
        tenant="other",
        query="q2",
        rating=None,
        rating_scale=None,
        correction="it is beta",
        marks=[],
    )
    every = store.list_feedback()
    assert [f["feedback_id"] for f in every] == ["f1", "f2"]
    (mine,) = store.list_feedback(tenant="acme")
    assert mine["marks"] == marks and mine["cited"] == ["a"] and mine["query"] == "what is alpha?"
    assert (mine["trace_id"], mine["key_id"], mine["rating"], mine["rating_scale"]) == ("t1", "k1", 1.0, "thumbs")
    assert [f["correction"] for f in store.list_feedback(tenant="other")] == ["it is beta"]
    assert store.list_feedback(tenant="nobody") == []
