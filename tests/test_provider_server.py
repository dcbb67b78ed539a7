"""The provider test server really speaks both wire protocols and really fails: plain httpx against loopback."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from tests.provider_server import (
    ProviderServer,
    bad_chunk,
    context_length_exceeded,
    cut_stream,
    delay,
    drop,
    embedding_for,
    malformed,
    model_not_found,
    refusal,
    stall,
    status,
    stream_error,
    tokenize,
)

ANTHROPIC_HEADERS = {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}


@pytest.fixture
def srv():
    with ProviderServer() as server:
        yield server


def http_client(base_url: str) -> httpx.Client:
    # Plain HTTP on loopback: verify=False only skips loading the CA bundle, which costs ~100 ms per client.
    return httpx.Client(base_url=base_url, timeout=2.0, verify=False)


@pytest.fixture
def client(srv: ProviderServer):
    with http_client(srv.base_url) as c:
        yield c


def chat(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {
        "model": "test-model",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}],
        **extra,
    }


def msg(text: str = "hello there", **extra: Any) -> dict[str, Any]:
    return {"model": "claude-test", "max_tokens": 256, "messages": [{"role": "user", "content": text}], **extra}


def post_openai(client: httpx.Client, body: dict[str, Any] | None = None) -> httpx.Response:
    return client.post("/v1/chat/completions", json=body or chat(), headers={"Authorization": "Bearer sk-test"})


def post_anthropic(client: httpx.Client, body: dict[str, Any] | None = None) -> httpx.Response:
    return client.post("/v1/messages", json=body or msg(), headers=ANTHROPIC_HEADERS)


def read_sse(response: httpx.Response, into: list[tuple[str | None, str]]) -> list[tuple[str | None, str]]:
    """Parse server-sent events into (event, data) pairs, appending as they arrive (so a caller keeps what
    came before an exception)."""
    event, data = None, []
    for line in response.iter_lines():
        if line == "":
            if data:
                into.append((event, "\n".join(data)))
            event, data = None, []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        into.append((event, "\n".join(data)))
    return into


def stream(
    client: httpx.Client,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
    events: list | None = None,
) -> list[tuple[str | None, str]]:
    events = [] if events is None else events
    with client.stream("POST", path, json=body, headers=headers or {}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        read_sse(r, events)
    return events


def openai_text(events: list[tuple[str | None, str]], key: str = "content") -> str:
    out = ""
    for _, data in events:
        if data == "[DONE]":
            continue
        for choice in json.loads(data)["choices"]:
            out += choice["delta"].get(key) or ""
    return out


def anthropic_text(events: list[tuple[str | None, str]]) -> str:
    return "".join(json.loads(d)["delta"]["text"] for e, d in events if e == "content_block_delta")


# ------------------------------------------------------------------------------------- lifecycle


def test_starts_and_stops_in_milliseconds_even_with_a_request_in_flight():
    t0 = time.monotonic()
    with ProviderServer() as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}"
        server.fail_next(delay(30))
        errors: list[BaseException] = []

        def slow() -> None:
            with http_client(server.base_url) as c:
                try:
                    c.post("/v1/chat/completions", json=chat(), timeout=5)
                except httpx.HTTPError as exc:
                    errors.append(exc)

        t = threading.Thread(target=slow)
        t.start()
        assert server.wait_for(1)
    t.join(2)
    assert time.monotonic() - t0 < 0.5
    assert not t.is_alive() and isinstance(errors[0], httpx.TransportError)


# ----------------------------------------------------------------------------------- OpenAI dialect


def test_openai_chat_completion_shape_and_recording(srv: ProviderServer, client: httpx.Client):
    r = post_openai(client, chat("what is up?"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"].startswith("req_")
    data = r.json()
    assert data["id"].startswith("chatcmpl-") and data["object"] == "chat.completion"
    assert isinstance(data["created"], int) and data["model"] == "test-model"
    choice = data["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "echo: what is up?", "refusal": None}
    assert choice["finish_reason"] == "stop" and choice["index"] == 0
    assert data["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}

    rec = srv.requests[-1]
    assert rec.method == "POST" and rec.path == "/v1/chat/completions" and rec.dialect == "openai"
    assert rec.headers["authorization"] == "Bearer sk-test" and rec.body == chat("what is up?")
    assert srv.count() == 1 and srv.count("/chat/completions") == 1 and srv.count("/messages") == 0


def test_reply_and_usage_are_settable_and_usage_can_be_omitted(srv: ProviderServer, client: httpx.Client):
    srv.reply = lambda body: json.dumps({"answer": body["model"]})
    srv.usage = None
    body = chat(response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": {}}})
    data = post_openai(client, body).json()
    assert json.loads(data["choices"][0]["message"]["content"]) == {"answer": "test-model"}
    assert "usage" not in data
    assert "usage" not in post_anthropic(client).json()
    srv.usage = (3, 4)
    assert post_anthropic(client).json()["usage"] == {"input_tokens": 3, "output_tokens": 4}


def test_content_as_list_of_parts(client: httpx.Client):
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
    }
    assert post_openai(client, body).json()["choices"][0]["message"]["content"] == "echo: a\nb"


def test_openai_stream_reconstructs_reply_with_usage_chunk_and_done(srv: ProviderServer, client: httpx.Client):
    srv.reply = lambda body: "one  two three\n four "
    events = stream(client, "/v1/chat/completions", chat(stream=True, stream_options={"include_usage": True}))
    assert [e for e, _ in events] == [None] * len(events)
    assert events[-1][1] == "[DONE]"
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    contents = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
    assert contents == tokenize("one  two three\n four ") == ["one", "  two", " three", "\n four "]
    assert openai_text(events) == "one  two three\n four "
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 18


def test_openai_stream_without_include_usage_has_no_usage(client: httpx.Client):
    events = stream(client, "/v1/chat/completions", chat("x y", stream=True))
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert events[-1][1] == "[DONE]" and all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and openai_text(events) == "echo: x y"


def test_max_tokens_truncates_with_length_and_max_tokens_reasons(client: httpx.Client):
    r = post_openai(client, chat("a b c d e", max_tokens=3)).json()
    assert r["choices"][0]["message"]["content"] == "echo: a b" and r["choices"][0]["finish_reason"] == "length"
    r = post_anthropic(client, msg("a b c d e") | {"max_tokens": 2}).json()
    assert r["content"][0]["text"] == "echo: a" and r["stop_reason"] == "max_tokens"


def test_embeddings_deterministic_indexed_and_sized(srv: ProviderServer, client: httpx.Client):
    r = client.post("/v1/embeddings", json={"model": "emb", "input": ["alpha", "beta", "alpha"]}).json()
    assert r["object"] == "list" and r["model"] == "emb" and r["usage"] == {"prompt_tokens": 11, "total_tokens": 11}
    assert [d["index"] for d in r["data"]] == [0, 1, 2]
    vecs = [d["embedding"] for d in r["data"]]
    assert len(vecs[0]) == 8 and vecs[0] == vecs[2] != vecs[1] and vecs[0] == embedding_for("alpha", 8)
    assert abs(sum(x * x for x in vecs[1]) - 1) < 1e-9

    srv.embed_dim = 5
    single = client.post("/v1/embeddings", json={"model": "emb", "input": "alpha"}).json()["data"]
    assert len(single) == 1 and single[0]["embedding"] == embedding_for("alpha", 5)
    sized = client.post("/v1/embeddings", json={"model": "emb", "input": "x", "dimensions": 3}).json()
    assert len(sized["data"][0]["embedding"]) == 3
    b64 = client.post("/v1/embeddings", json={"model": "e", "input": "x", "encoding_format": "base64"}).json()
    import base64

    import numpy as np

    decoded = np.frombuffer(base64.b64decode(b64["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, embedding_for("x", 5), atol=1e-6)


def test_models_in_both_dialects(srv: ProviderServer, client: httpx.Client):
    srv.models = ["a", "b"]
    r = client.get("/v1/models").json()
    assert r["object"] == "list" and [m["id"] for m in r["data"]] == ["a", "b"]
    r = client.get("/v1/models", headers=ANTHROPIC_HEADERS).json()
    assert [m["id"] for m in r["data"]] == ["a", "b"] and r["data"][0]["type"] == "model" and not r["has_more"]


def test_unknown_route_is_404_and_consumes_no_fault(srv: ProviderServer, client: httpx.Client):
    srv.fail_next(status(500))
    assert client.post("/v1/completions", json={}).status_code == 404
    assert client.post("/chat/completions", json=chat()).status_code == 404  # no /v1: a URL-building bug
    assert srv.pending == 1 and post_openai(client).status_code == 500


# -------------------------------------------------------------------------------- Anthropic dialect


def test_anthropic_message_shape_headers_and_system(srv: ProviderServer, client: httpx.Client):
    body = msg() | {
        "system": [{"type": "text", "text": "be brief"}],
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
        ],
    }
    r = post_anthropic(client, body)
    assert r.status_code == 200 and r.headers["request-id"].startswith("req_")
    data = r.json()
    assert data["id"].startswith("msg_")
    assert {k: data[k] for k in ("type", "role", "model", "content", "stop_reason", "usage")} == {
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [{"type": "text", "text": "echo: second"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 11, "output_tokens": 7},
    }
    rec = srv.last("/messages")
    assert rec.dialect == "anthropic" and rec.headers["x-api-key"] == "sk-ant-test"
    assert rec.headers["anthropic-version"] == "2023-06-01" and rec.body["system"][0]["text"] == "be brief"
    assert post_anthropic(client, msg() | {"system": "plain string"}).status_code == 200


def test_anthropic_stream_event_sequence(srv: ProviderServer, client: httpx.Client):
    srv.reply = lambda body: "alpha beta gamma"
    events = stream(client, "/v1/messages", msg(stream=True), ANTHROPIC_HEADERS)
    names = [e for e, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    payloads = [json.loads(d) for _, d in events]
    assert all(p["type"] == n for p, n in zip(payloads, names, strict=True))
    assert payloads[0]["message"]["usage"]["input_tokens"] == 11 and payloads[0]["message"]["content"] == []
    assert payloads[1]["content_block"] == {"type": "text", "text": ""}
    assert payloads[3]["delta"] == {"type": "text_delta", "text": "alpha"}
    assert anthropic_text(events) == "alpha beta gamma"
    assert payloads[7]["delta"]["stop_reason"] == "end_turn" and payloads[7]["usage"] == {"output_tokens": 7}


def test_strict_validation_catches_wire_mistakes(client: httpx.Client):
    def error_of(r: httpx.Response) -> dict[str, Any]:
        assert r.status_code == 400
        return r.json()["error"]

    with_system = msg() | {"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]}
    assert "Unexpected role" in error_of(post_anthropic(client, with_system))["message"]
    no_max = {k: v for k, v in msg().items() if k != "max_tokens"}
    assert error_of(post_anthropic(client, no_max))["type"] == "invalid_request_error"
    no_version = client.post("/v1/messages", json=msg(), headers={"x-api-key": "k"})
    assert "anthropic-version" in error_of(no_version)["message"]
    assert error_of(post_openai(client, {"messages": [{"role": "user", "content": "x"}]}))["param"] == "model"
    not_json = client.post("/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"})
    assert "parse" in error_of(not_json)["message"]


def test_api_key_checked_when_set(srv: ProviderServer, client: httpx.Client):
    srv.api_key = "sk-test"
    assert post_openai(client).status_code == 200
    assert client.post("/v1/chat/completions", json=chat()).json()["error"]["code"] == "invalid_api_key"
    srv.api_key = "sk-ant-test"
    assert post_anthropic(client).status_code == 200
    r = client.post("/v1/messages", json=msg(), headers={"anthropic-version": "2023-06-01", "x-api-key": "bad"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


# ---------------------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "code,openai_type,anthropic_type",
    [
        (400, "invalid_request_error", "invalid_request_error"),
        (401, "invalid_request_error", "authentication_error"),
        (429, "requests", "rate_limit_error"),
        (500, "server_error", "api_error"),
        (503, "server_error", "api_error"),
        (529, "server_error", "overloaded_error"),
    ],
)
def test_status_fault_in_both_dialects(srv: ProviderServer, client: httpx.Client, code, openai_type, anthropic_type):
    srv.fail_next(status(code), status(code))
    r = post_openai(client)
    assert r.status_code == code and r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert err["type"] == openai_type and err["message"] and "code" in err and "param" in err
    r = post_anthropic(client)
    assert r.status_code == code
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == anthropic_type and r.json()["error"]["message"]
    assert post_openai(client).status_code == 200  # the queue is empty again


def test_status_retry_after_seconds_and_http_date_and_custom_body(srv: ProviderServer, client: httpx.Client):
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    srv.fail_next(
        status(429, retry_after=2),
        status(503, retry_after=0.5),
        status(429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT"),
        status(529, retry_after=when),
        status(429, body="slow down", headers={"retry-after-ms": "1500"}),
        status(500, body={"custom": True}),
    )
    r = post_openai(client)
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    assert post_anthropic(client).headers["retry-after"] == "0.5"
    assert post_openai(client).headers["retry-after"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    r = post_anthropic(client)
    assert r.status_code == 529 and parsedate_to_datetime(r.headers["retry-after"]) == when
    r = post_anthropic(client)
    assert r.headers["retry-after-ms"] == "1500" and "retry-after" not in r.headers
    assert r.json()["error"] == {"type": "rate_limit_error", "message": "slow down"}
    assert post_openai(client).json() == {"custom": True}


def test_fault_queue_order_always_and_clear(srv: ProviderServer, client: httpx.Client):
    srv.fail_next(status(500), status(429))
    srv.fail_next(status(503))
    assert [post_openai(client).status_code for _ in range(4)] == [500, 429, 503, 200]
    assert [r.fault.code if r.fault else None for r in srv.requests] == [500, 429, 503, None]
    srv.fail_always(status(502))
    srv.fail_next(status(418))
    assert [post_anthropic(client).status_code for _ in range(3)] == [418, 502, 502]
    srv.clear()
    assert post_anthropic(client).status_code == 200
    srv.fail_next(status(500), on="/messages")  # embeddings and models pass it by
    assert client.get("/v1/models").status_code == 200 and post_openai(client).status_code == 200
    assert post_anthropic(client).status_code == 500
    srv.clear(requests=True)
    assert srv.count() == 0


def test_delay_fault_triggers_client_timeout_then_normal_behaviour_resumes(srv: ProviderServer, client: httpx.Client):
    srv.fail_next(delay(0.5), delay(0.05))
    with pytest.raises(httpx.ReadTimeout):
        client.post("/v1/chat/completions", json=chat(), timeout=0.1)
    t0 = time.monotonic()
    assert post_anthropic(client).status_code == 200 and time.monotonic() - t0 >= 0.05
    assert post_openai(client).json()["choices"][0]["message"]["content"] == "echo: hello there"


def test_delayed_requests_are_served_concurrently(srv: ProviderServer, client: httpx.Client):
    srv.fail_next(delay(0.3), delay(0.3), delay(0.3))
    results: list[int] = []

    def call(path: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        results.append(client.post(path, json=body, headers=headers).status_code)

    threads = [
        threading.Thread(target=call, args=("/v1/chat/completions", chat(), {})),
        threading.Thread(target=call, args=("/v1/messages", msg(), ANTHROPIC_HEADERS)),
        threading.Thread(target=call, args=("/v1/embeddings", {"model": "e", "input": "x"}, {})),
    ]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    assert results == [200, 200, 200] and 0.3 <= elapsed < 0.5  # serially it would be 0.9


def test_latency_applies_to_every_normal_answer(srv: ProviderServer, client: httpx.Client):
    srv.latency_s = 0.1
    for call in (lambda: post_openai(client), lambda: post_anthropic(client), lambda: client.get("/v1/models")):
        t0 = time.monotonic()
        assert call().status_code == 200 and time.monotonic() - t0 >= 0.1
    srv.fail_next(status(500))
    t0 = time.monotonic()
    assert post_openai(client).status_code == 500 and time.monotonic() - t0 < 0.1


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_drop_closes_connection_without_response(srv: ProviderServer, client: httpx.Client, dialect: str):
    send = post_openai if dialect == "openai" else post_anthropic
    assert send(client).status_code == 200  # a pooled keep-alive connection, as in real use
    srv.fail_next(drop())
    with pytest.raises(httpx.RemoteProtocolError, match="disconnected without sending a response"):
        send(client)
    srv.fail_next(drop(reset=True))
    with pytest.raises(httpx.TransportError):
        send(client)
    assert send(client).status_code == 200
    assert srv.count() == 4


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_malformed_is_200_json_that_does_not_parse(srv: ProviderServer, client: httpx.Client, dialect: str):
    send = post_openai if dialect == "openai" else post_anthropic
    srv.fail_next(malformed(), malformed("<html>502</html>"))
    for _ in range(2):
        r = send(client)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        with pytest.raises(json.JSONDecodeError):
            r.json()
    assert send(client).status_code == 200


def test_cut_stream_openai_ends_early_without_done(srv: ProviderServer, client: httpx.Client):
    srv.reply = lambda body: "a b c d e f"
    srv.fail_next(cut_stream(3))
    events: list = []
    with pytest.raises(httpx.RemoteProtocolError):
        stream(client, "/v1/chat/completions", chat(stream=True, stream_options={"include_usage": True}), events=events)
    assert openai_text(events) == "a b c"
    assert all(d != "[DONE]" for _, d in events)
    assert all(c["choices"][0]["finish_reason"] is None for c in map(json.loads, (d for _, d in events)))
    assert openai_text(stream(client, "/v1/chat/completions", chat(stream=True))) == "a b c d e f"


def test_cut_stream_anthropic_ends_early_without_message_stop(srv: ProviderServer, client: httpx.Client):
    srv.reply = lambda body: "a b c d e f"
    srv.fail_next(cut_stream(2), cut_stream(0))
    events: list = []
    with pytest.raises(httpx.RemoteProtocolError):
        stream(client, "/v1/messages", msg(stream=True), ANTHROPIC_HEADERS, events)
    assert [e for e, _ in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
    ]
    assert anthropic_text(events) == "a b"
    events = []
    with pytest.raises(httpx.RemoteProtocolError):
        stream(client, "/v1/messages", msg(stream=True), ANTHROPIC_HEADERS, events)
    assert anthropic_text(events) == ""


def test_cut_stream_on_a_non_streaming_request_truncates_the_body(srv: ProviderServer, client: httpx.Client):
    srv.fail_next(cut_stream(1), cut_stream(1))
    with pytest.raises(httpx.RemoteProtocolError):
        post_openai(client)
    with pytest.raises(httpx.RemoteProtocolError):
        post_anthropic(client)


def test_stall_mid_stream_trips_a_read_timeout(srv: ProviderServer, client: httpx.Client):
    srv.reply = lambda body: "a b c"
    srv.fail_next(stall(1, 0.5), stall(1, 0.05))
    events: list = []
    with (
        pytest.raises(httpx.ReadTimeout),
        client.stream("POST", "/v1/messages", json=msg(stream=True), headers=ANTHROPIC_HEADERS, timeout=0.15) as r,
    ):
        read_sse(r, events)
    assert anthropic_text(events) == "a"
    assert openai_text(stream(client, "/v1/chat/completions", chat(stream=True))) == "a b c"


def test_stream_error_and_bad_chunk(srv: ProviderServer, client: httpx.Client):
    srv.reply = lambda body: "a b c"
    srv.fail_next(stream_error(1), stream_error(2), bad_chunk(1), bad_chunk(0))
    events = stream(client, "/v1/messages", msg(stream=True), ANTHROPIC_HEADERS)
    assert events[-1][0] == "error" and json.loads(events[-1][1])["error"]["type"] == "overloaded_error"
    assert anthropic_text(events) == "a" and "message_stop" not in [e for e, _ in events]
    events = stream(client, "/v1/chat/completions", chat(stream=True))
    assert json.loads(events[-1][1])["error"]["type"] == "server_error" and openai_text(events[:-1]) == "a b"
    events = stream(client, "/v1/messages", msg(stream=True), ANTHROPIC_HEADERS)
    bad = [d for _, d in events if not d.startswith("{") or not d.endswith("}")]
    assert len(bad) == 1 and events[-1][0] == "message_stop"
    events = stream(client, "/v1/chat/completions", chat(stream=True))
    with pytest.raises(json.JSONDecodeError):
        json.loads(events[1][1])
    assert events[-1][1] == "[DONE]"


@pytest.mark.parametrize("streaming", [False, True])
def test_context_length_exceeded(srv: ProviderServer, client: httpx.Client, streaming: bool):
    srv.fail_next(context_length_exceeded(), context_length_exceeded())
    r = post_openai(client, chat(stream=streaming))
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "context_length_exceeded"
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["message"].startswith("This model's maximum context length is 4096 tokens")
    r = post_anthropic(client, msg(stream=streaming))
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["message"] == "prompt is too long: 5123 tokens > 4096 maximum"


def test_model_not_found(srv: ProviderServer, client: httpx.Client):
    srv.fail_next(model_not_found(), model_not_found())
    r = post_openai(client, chat() | {"model": "gpt-nope"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert "gpt-nope" in r.json()["error"]["message"]
    r = post_anthropic(client)
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


def test_refusal_in_both_dialects_streaming_and_not(srv: ProviderServer, client: httpx.Client):
    srv.fail_next(*[refusal()] * 4)
    message = post_openai(client).json()["choices"][0]["message"]
    assert message["content"] is None and message["refusal"] == "I can't help with that."
    data = post_anthropic(client).json()
    assert data["stop_reason"] == "refusal" and data["content"] == []
    events = stream(client, "/v1/chat/completions", chat(stream=True))
    assert openai_text(events, "refusal") == "I can't help with that." and openai_text(events) == ""
    assert events[-1][1] == "[DONE]"
    events = stream(client, "/v1/messages", msg(stream=True), ANTHROPIC_HEADERS)
    delta = next(json.loads(d) for e, d in events if e == "message_delta")
    assert delta["delta"]["stop_reason"] == "refusal" and events[-1][0] == "message_stop"


def test_reply_that_raises_gives_500_with_the_cause(srv: ProviderServer, client: httpx.Client):
    srv.reply = lambda body: 1 / 0
    r = post_openai(client)
    assert r.status_code == 500 and "ZeroDivisionError" in r.json()["error"]["message"]
