"""OTLP export: off by default; when configured, every stored trace reaches a real HTTP collector
on loopback as OTLP/HTTP JSON with GenAI attributes, and texts stay home unless asked for."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ragwright.config import ModelSettings, RouteSettings
from tests.provider_server import ProviderServer


class Collector:
    def __init__(self, status: int = 200, delay_s: float = 0.0) -> None:
        self.bodies: list[dict] = []
        self.status = status
        self.delay_s = delay_s
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(collector.delay_s)
                collector.bodies.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
                self.send_response(collector.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[dict]:
        return [s for b in self.bodies for rs in b["json"]["resourceSpans"] for ss in rs["scopeSpans"]
                for s in ss["spans"]]

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.close()


def _attrs(span: dict) -> dict:
    return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}


def test_traces_reach_the_collector_with_genai_attributes(workspace, corpus, collector):
    ws = workspace
    ws.settings.observe.otlp_endpoint = collector.url
    ws.settings.observe.otlp_headers = {"Authorization": "Bearer collector-token"}
    with ProviderServer(reply=lambda body: "Full-time employees get 25 vacation days [1].") as srv:
        ws.settings.models = {"m": ModelSettings(base_url=srv.base_url + "/v1", model="x", timeout_s=5)}
        ws.settings.routes = {"default": RouteSettings(models=["m"])}
        ws.settings.answer.model = "default"
        ws.ingest([corpus])
        answer = ws.ask("How many vacation days do full-time employees get?")
        ws.store.flush_traces()
    deadline = time.monotonic() + 5  # the writer thread exports, not the request
    while not any(s["name"] == "ask" for s in collector.spans()):
        assert time.monotonic() < deadline, "nothing reached the collector"
        time.sleep(0.02)
    assert collector.bodies[0]["path"] == "/v1/traces"
    assert collector.bodies[0]["headers"]["Authorization"] == "Bearer collector-token"
    spans = collector.spans()
    trace_ids = {s["traceId"] for s in spans}
    ask = [s for s in spans if s["name"] == "ask"]
    assert len(ask) == 1 and _attrs(ask[0])["ragwright.trace_id"] == answer.trace_id
    mine = [s for s in spans if s["traceId"] == ask[0]["traceId"]]
    ids = {s["spanId"] for s in mine}
    assert all(len(t) == 32 for t in trace_ids) and all(len(i) == 16 for i in ids)
    assert all(s.get("parentSpanId") in ids for s in mine if s is not ask[0])  # one connected tree
    call = next(s for s in mine if s["name"] == "model.call")
    attrs = _attrs(call)
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.request.model"] == "default"
    assert attrs["gen_ai.response.model"] == "m" and int(attrs["gen_ai.usage.input_tokens"]) > 0
    assert int(call["endTimeUnixNano"]) >= int(call["startTimeUnixNano"]) >= int(ask[0]["startTimeUnixNano"])
    sent = json.dumps(collector.bodies)
    assert "vacation days" not in sent and "25 vacation" not in sent  # texts stay home by default


def test_nothing_is_sent_unless_configured_and_a_down_collector_costs_nothing(workspace, corpus, collector):
    workspace.ingest([corpus])
    workspace.search("vacation days", 3)
    workspace.store.flush_traces()
    assert workspace.store.trace_exporter is None and collector.bodies == []
    workspace.settings.observe.otlp_endpoint = "http://127.0.0.1:9"  # nothing listens there
    workspace.store.close()
    workspace._store = None  # the next use builds the store with the exporter
    started = time.monotonic()
    workspace.search("vacation days", 3)
    workspace.store.flush_traces()
    assert time.monotonic() - started < 5 and workspace.store.list_traces(limit=1)  # stored all the same


def test_a_slow_collector_never_holds_a_request(workspace, corpus):
    slow = Collector(delay_s=3.0)
    try:
        workspace.settings.observe.otlp_endpoint = slow.url
        workspace.ingest([corpus])
        workspace.search("vacation days", 3)
        started = time.monotonic()
        assert workspace.store.list_traces(limit=5)  # a read writes the queue first, on this thread
        workspace.search("parental leave", 3)
        assert workspace.store.list_traces(limit=5)
        assert time.monotonic() - started < 1.0  # the exports wait in the writer thread
    finally:
        slow.close()
