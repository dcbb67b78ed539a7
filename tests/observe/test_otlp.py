"""OTLP export: off by default; when configured, every stored trace reaches a real HTTP collector
on loopback as OTLP/HTTP JSON with GenAI attributes that the official protobuf schema
(opentelemetry-proto) accepts, texts stay home unless asked for, and a throttled collector is
asked again after a back-off."""

from __future__ import annotations

import base64
import copy
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from ragwright.config import ModelSettings, RouteSettings
from ragwright.observe.otlp import OtlpExporter
from tests.provider_server import ProviderServer


class Collector:
    """A loopback OTLP/HTTP collector. `statuses` are answered in turn (the last one from then
    on), each with `retry_after` as a Retry-After header when it is not 200."""

    def __init__(
        self, status: int = 200, delay_s: float = 0.0, statuses: list[int] | None = None, retry_after: str | None = None
    ) -> None:
        self.bodies: list[dict] = []
        self.arrived: list[float] = []
        self.statuses = list(statuses or [status])
        self.delay_s = delay_s
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                collector.arrived.append(time.monotonic())
                time.sleep(collector.delay_s)
                collector.bodies.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
                status = collector.statuses.pop(0) if len(collector.statuses) > 1 else collector.statuses[0]
                self.send_response(status)
                if retry_after is not None and status != 200:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[dict]:
        return [
            s for b in self.bodies for rs in b["json"]["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]
        ]

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.close()


def _attrs(span: dict) -> dict:
    return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}


def _camel_keys(node: Any) -> None:
    """OTLP/JSON field names are lowerCamelCase (the protobuf parser would also take snake_case)."""
    if isinstance(node, dict):
        for key, value in node.items():
            assert "_" not in key, key
            _camel_keys(value)
    elif isinstance(node, list):
        for value in node:
            _camel_keys(value)


def as_proto(body: dict) -> ExportTraceServiceRequest:
    """The body parsed by the official schema: an unknown field, a wrong type or an unknown enum
    value fails. OTLP/JSON differs from protobuf's JSON mapping in its ids (hex, not base64), so
    those are checked and converted first; enums stay integers, as OTLP/JSON requires."""
    _camel_keys(body)
    body = copy.deepcopy(body)
    for span in (s for rs in body["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]):
        assert isinstance(span["kind"], int) and isinstance(span["status"]["code"], int)
        for key, size in (("traceId", 16), ("spanId", 8), ("parentSpanId", 8)):
            if key in span:
                raw = bytes.fromhex(span[key])
                assert len(raw) == size, (key, span[key])
                span[key] = base64.b64encode(raw).decode()
    request = json_format.ParseDict(body, ExportTraceServiceRequest())
    for span in (s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans):
        assert span.kind == Span.SPAN_KIND_INTERNAL and span.name
        assert span.status.code in (Status.STATUS_CODE_OK, Status.STATUS_CODE_ERROR)
        assert span.end_time_unix_nano >= span.start_time_unix_nano > 0
        assert all(a.key and a.value.WhichOneof("value") for a in span.attributes)
    assert request.SerializeToString()
    return request


TRACE = {
    "trace_id": "t-1",
    "name": "ask",
    "start": 1_760_000_000.25,
    "duration_ms": 812.5,
    "status": "error",
    "error": "the model timed out",
    "tenant": "acme",
    "key_id": "k1",
    "cost_usd": 0.0021,
    "input_tokens": 310,
    "output_tokens": 42,
    "input": {"question": "How long is parental leave?", "k": 5, "strict": True},
    "spans": [
        {
            "span_id": "s1",
            "parent_id": None,
            "name": "retrieve",
            "start": 1_760_000_000.3,
            "duration_ms": 12.0,
            "attributes": {
                "hits": 5,
                "query": "parental leave",
                "fused": True,
                "scores": [0.9, 0.4],
                "filters": {"tag": "hr"},
            },
        },
        {
            "span_id": "s2",
            "parent_id": "s1",
            "name": "model.call",
            "start": 1_760_000_000.4,
            "duration_ms": 700.0,
            "status": "error",
            "error": "timeout",
            "attributes": {
                "route": "default",
                "model": "m",
                "input_tokens": 310,
                "output_tokens": 0,
                "max_tokens": 256,
                "temperature": 0.2,
                "messages": [{"role": "user"}],
            },
        },
    ],
}


@pytest.mark.parametrize("include_text", [False, True])
def test_the_payload_is_valid_for_the_official_otlp_schema(include_text: bool) -> None:
    exporter = OtlpExporter("http://127.0.0.1:9", include_text=include_text)
    request = as_proto(exporter.payload([TRACE]))
    exporter.close()
    spans = {s.name: s for s in request.resource_spans[0].scope_spans[0].spans}
    assert request.resource_spans[0].resource.attributes[0].value.string_value == "ragwright"
    assert spans["retrieve"].parent_span_id == spans["ask"].span_id
    assert spans["model.call"].parent_span_id == spans["retrieve"].span_id
    assert len({s.trace_id for s in spans.values()}) == 1
    message = "the model timed out" if include_text else "error"  # an error's text is text too
    assert spans["ask"].status.code == Status.STATUS_CODE_ERROR and spans["ask"].status.message == message
    assert spans["retrieve"].status.code == Status.STATUS_CODE_OK
    assert spans["ask"].end_time_unix_nano - spans["ask"].start_time_unix_nano == 812_500_000
    call = {a.key: a.value for a in spans["model.call"].attributes}
    assert call["gen_ai.usage.input_tokens"].int_value == 310 and call["ragwright.temperature"].double_value == 0.2
    assert call["gen_ai.request.model"].string_value == "default"
    retrieve = {a.key: a.value for a in spans["retrieve"].attributes}
    assert retrieve["ragwright.fused"].bool_value is True
    texts = [
        a.key
        for s in spans.values()
        for a in s.attributes
        if a.key.startswith("ragwright.input.")
        or a.key in ("ragwright.query", "ragwright.scores", "ragwright.messages")
    ]
    assert bool(texts) is include_text


@pytest.mark.parametrize("include_text", [False, True])
def test_an_errors_text_is_exported_only_with_the_texts(include_text: bool) -> None:
    """A provider's error may quote the request (review 14): without the texts, only its kind."""
    error = "ProviderError: model 'm': HTTP 400: bad request: 'my SSN is 078-05-1120, am I covered?'"
    fallback = {"span_id": "s3", "parent_id": None, "name": "fallback", "start": 1_760_000_000.5, "duration_ms": 1.0}
    spans = [{**TRACE["spans"][1], "parent_id": None, "error": error}, {**fallback, "attributes": {"reason": error}}]
    trace = {**TRACE, "error": error, "spans": spans}
    exporter = OtlpExporter("http://127.0.0.1:9", include_text=include_text)
    request = as_proto(exporter.payload([trace]))
    exporter.close()
    exported = request.resource_spans[0].scope_spans[0].spans
    messages = {s.status.message for s in exported if s.name != "fallback"}
    assert messages == ({error} if include_text else {"ProviderError"})
    reasons = [a.value.string_value for s in exported for a in s.attributes if a.key == "ragwright.reason"]
    assert reasons == ([error] if include_text else [])  # a fallback's reason is that error


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
    for body in collector.bodies:
        as_proto(body["json"])
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


def test_a_throttled_collector_is_asked_again_after_its_retry_after() -> None:
    busy = Collector(statuses=[429, 503, 200], retry_after="0.3")
    exporter = OtlpExporter(busy.url, backoff_s=0.01)
    try:
        assert exporter.export([TRACE]) is True
        assert len(busy.bodies) == 3 and busy.bodies[0]["json"] == busy.bodies[2]["json"]
        assert busy.arrived[1] - busy.arrived[0] >= 0.3 and busy.arrived[2] - busy.arrived[1] >= 0.3
    finally:
        exporter.close()
        busy.close()


def test_back_off_grows_and_gives_up_within_its_bounds() -> None:
    down = Collector(statuses=[503])
    exporter = OtlpExporter(down.url, retries=3, backoff_s=0.1)
    try:
        started = time.monotonic()
        assert exporter.export([TRACE]) is False
        assert len(down.bodies) == 4 and time.monotonic() - started < 2.0
        gaps = [b - a for a, b in itertools.pairwise(down.arrived)]
        assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2  # half to all of 0.1, 0.2, 0.4 s
    finally:
        exporter.close()
        down.close()


@pytest.mark.parametrize(
    "statuses, retry_after, sent",
    [
        ([400], None, 1),  # a rejected payload is not sent again
        ([500], None, 1),  # not retryable in OTLP/HTTP
        ([429], "30", 1),  # waiting 30 s is beyond max_wait_s: given up at once
        ([503, 503, 200], "0.01", 3),
    ],
)
def test_only_retryable_answers_are_retried(statuses: list[int], retry_after: str | None, sent: int) -> None:
    collector = Collector(statuses=statuses, retry_after=retry_after)
    exporter = OtlpExporter(collector.url, backoff_s=0.01, max_wait_s=5.0)
    try:
        started = time.monotonic()
        assert exporter.export([TRACE]) is (statuses[-1] == 200)
        assert len(collector.bodies) == sent and time.monotonic() - started < 2.0
    finally:
        exporter.close()
        collector.close()
