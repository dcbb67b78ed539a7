"""Traces: the span tree of an ask (retrieval parts, model attempts, citation check), timings
that nest, cost that adds up to the gateway's records, and no cost when nothing traces."""

import time

import pytest

from ragwright.config import ModelSettings, RouteSettings
from ragwright.observe import muted, span, start_trace
from ragwright.observe.tracing import MAX_SPANS
from tests.provider_server import ProviderServer, status


def test_span_tree_timings_and_errors():
    saved = []
    with start_trace("job", input={"x": 1}, sink=saved.append) as t:
        with span("outer", a=1) as outer:
            with span("inner"):
                time.sleep(0.02)
            outer.set(b=2)
        with pytest.raises(ValueError), span("failing"):
            raise ValueError("boom")
        with muted(), span("hidden"):
            pass
    (trace,) = saved
    names = {s.name: s for s in trace.spans}
    assert set(names) == {"outer", "inner", "failing"} and trace is t
    assert names["inner"].parent_id == names["outer"].span_id and names["outer"].parent_id is None
    assert names["outer"].duration_ms >= names["inner"].duration_ms >= 20
    assert trace.duration_ms >= names["outer"].duration_ms and names["outer"].attributes == {"a": 1, "b": 2}
    assert names["failing"].status == "error" and "boom" in names["failing"].error


def test_nothing_is_recorded_without_a_trace_and_spans_are_capped():
    with span("alone") as s:
        s.set(x=1)  # a no-op
    saved = []
    with start_trace("many", input={}, sink=saved.append):
        for _ in range(MAX_SPANS + 50):
            with span("step"):
                pass
        with start_trace("nested", input={}, sink=saved.append) as inner:
            assert inner is not None and inner.name == "many"  # joins the active trace
    assert len(saved) == 1 and len(saved[0].spans) == MAX_SPANS


def test_an_ask_leaves_a_full_trace_whose_cost_matches_the_gateway(workspace, corpus):
    with ProviderServer(reply=lambda body: "Full-time employees get 25 vacation days per year [1].") as srv:
        ws = workspace
        ws.settings.models = {
            "m": ModelSettings(
                base_url=srv.base_url + "/v1",
                model="x",
                timeout_s=5,
                input_price_per_mtok=1.0,
                output_price_per_mtok=2.0,
            )
        }
        ws.settings.routes = {"default": RouteSettings(models=["m"])}
        ws.settings.answer.model = "default"
        ws.ingest([corpus])
        srv.fail_next(status(503))  # one failed attempt, then the retry answers
        answer = ws.ask("How many vacation days do full-time employees get?")
    trace = ws.store.get_trace(answer.trace_id)
    spans = {s["name"]: s for s in trace["spans"]}
    by_id = {s["span_id"]: s for s in trace["spans"]}
    assert {
        "retrieve",
        "embed_query",
        "bm25",
        "dense",
        "fusion",
        "generate",
        "evidence",
        "model.call",
        "model.attempt",
        "citation_check",
    } <= set(spans)
    assert by_id[spans["bm25"]["parent_id"]]["name"] == "retrieve"
    assert by_id[spans["model.call"]["parent_id"]]["name"] == "generate"
    attempts = [s for s in trace["spans"] if s["name"] == "model.attempt"]
    assert [a["attributes"].get("status", "ok") for a in attempts] == ["error", "ok"]
    assert trace["output"]["answer"] == answer.answer and trace["input"] == {"question": answer.question}
    recorded = ws.store.usage_summary("route")
    assert trace["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in recorded)) and trace["cost_usd"] > 0
    assert trace["input_tokens"] == 11 and trace["output_tokens"] == 7
    assert spans["retrieve"]["duration_ms"] <= trace["duration_ms"]
    assert answer.citations and set(trace["doc_ids"]) >= {c.doc_id for c in answer.citations}
    ws.delete(answer.citations[0].doc_id)
    assert ws.store.get_trace(answer.trace_id) is None  # it held that document's text


def test_traces_can_be_switched_off(workspace, corpus):
    workspace.settings.observe.traces = False
    workspace.ingest([corpus])
    assert workspace.ask("How many vacation days?").trace_id is None
    assert workspace.store.list_traces() == []


def test_traces_are_written_in_the_background_and_deletion_reaches_queued_ones(workspace, corpus):
    """save_trace queues; a background writer commits within moments, reads and deletions write the
    queue first, so a queued trace holding a document's text cannot outlive its deletion."""
    from ragwright.store import SqliteStore

    workspace.ingest([corpus])
    results = workspace.search("vacation days", 3)
    trace_id = workspace.store.list_traces(limit=1)[0]["trace_id"]
    other = SqliteStore(workspace.store.path)  # another process's view: sees only what was committed
    try:
        assert other.get_trace(trace_id) is not None
        workspace.search("vacation days", 3)  # queued, not read back through this store
        deadline = time.monotonic() + 5
        while len(other.list_traces(limit=10)) < 2:
            assert time.monotonic() < deadline, "the background writer did not commit the trace"
            time.sleep(0.02)
        with start_trace("manual", input={"q": "x"}, sink=workspace.store.save_trace) as t:
            t.doc_ids.add(results[0].doc_id)
        workspace.delete(results[0].doc_id)  # the manual trace was still queued (no 20 ms passed)
        time.sleep(0.3)  # had deletion skipped the queue, the background writer would write it now
        assert all(
            results[0].doc_id not in (tr.get("doc_ids") or [])
            for tr in (other.get_trace(x["trace_id"]) for x in other.list_traces(limit=50))
            if tr
        )
        assert other.get_trace(t.trace_id) is None
    finally:
        other.close()


def test_trace_ids_are_random_unique_and_differ_in_a_forked_child():
    import os

    from ragwright.observe.tracing import new_trace_id

    ids = [new_trace_id() for _ in range(2000)]  # crosses the 512-id refills
    assert len(set(ids)) == 2000 and all(len(i) == 17 and i[0] == "t" and int(i[1:], 16) >= 0 for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id must not be the parent's next id
        os.write(write, new_trace_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 64).decode() != new_trace_id()


def test_a_read_or_deletion_waits_for_the_batch_the_writer_thread_already_took(workspace, corpus):
    """The writer thread swaps the queue out, then writes: a read (or a deletion) flushing at that
    moment finds the queue empty, and must still not run before that batch is in."""
    workspace.ingest([corpus])
    store = workspace.store
    taken = []

    def slow_redactor(data):  # runs in the writer thread, after it took the batch
        taken.append(time.monotonic())
        time.sleep(0.4)
        return data

    store.trace_redactor = slow_redactor
    try:
        hit = workspace.search("vacation days", 3)[0]
        deadline = time.monotonic() + 5
        while not taken:  # the writer thread holds the batch now
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert [t["name"] for t in store.list_traces(limit=5)][:1] == ["search"]
        with start_trace("manual", input={"q": "x"}, sink=store.save_trace) as t:
            t.doc_ids.add(hit.doc_id)
        taken.clear()
        while not taken:
            time.sleep(0.005)
        workspace.delete(hit.doc_id)  # the batch holding the manual trace is in the writer's hands
        time.sleep(0.5)
        assert store.get_trace(t.trace_id) is None
    finally:
        store.trace_redactor = None
