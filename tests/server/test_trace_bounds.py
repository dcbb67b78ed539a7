"""A read key cannot fill the trace store, nor the server's memory through GET /v1/traces.
Attack (review 16, finding A, a_stream_trace_unclipped.py): a streamed /v1/chat/completions
built its trace by hand and kept its last four messages whole (4 x 250,000 characters a request,
kept 30 days); GET /v1/traces?limit=1000 returned every trace's whole input: 200 such traces
were one 200 MB response and took the server from 326 to 1,058 MB. Traces are now bounded where
the store takes them, and a list of traces holds a summary of each input."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ragwright import Settings, Workspace
from ragwright.config import GatewaySettings, ModelSettings
from ragwright.observe.tracing import MAX_TEXT
from ragwright.server import create_app
from ragwright.server.auth import create_key
from tests.provider_server import ProviderServer

BIG = 250_000
REPLY = "w" * 20_000


@pytest.fixture
def client(tmp_path, embedder):
    with ProviderServer(reply=lambda body: REPLY, tools=False) as srv:
        spec = ModelSettings(base_url=srv.base_url + "/v1", model="m", timeout_s=10, tools=False, context_window=10**7)
        settings = Settings(
            data_dir=tmp_path / "data", models={"m": spec}, gateway=GatewaySettings(max_retries=0, cache=False)
        )
        ws = Workspace(settings=settings, embedder=embedder)
        c = TestClient(create_app(workspace=ws))
        c.headers["Authorization"] = "Bearer " + create_key(ws.store, "evil", ["read"])["key"]
        with c:
            yield c
        ws.close()


def _chat(client, stream: bool):
    body = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "x" * BIG}] * 4}
    res = client.post("/v1/chat/completions", json=body)
    assert res.status_code == 200, res.text[:300]
    return res


@pytest.mark.parametrize("stream", [True, False])
def test_a_chat_of_a_million_characters_leaves_a_trace_of_a_few_kilobytes(client, stream):
    res = _chat(client, stream)
    assert REPLY in (res.text if stream else res.json()["choices"][0]["message"]["content"])
    (listed,) = client.get("/v1/traces").json()["traces"]
    got = client.get(f"/v1/traces/{listed['trace_id']}")
    print(f"stream={stream}: a trace of {len(got.content):,} bytes")
    assert len(got.content) < 40_000, f"a trace of {len(got.content):,} bytes"  # 4 messages, a reply, clipped
    trace = got.json()
    assert [len(m) for m in trace["input"]["messages"]] == [MAX_TEXT + 1] * 4
    if stream:
        assert len(trace["output"]["text"]) == MAX_TEXT + 1  # the provider's reply too


def test_a_list_of_traces_sends_a_summary_of_each(client):
    for i in range(20):
        _chat(client, stream=i % 2 == 0)
    res = client.get("/v1/traces", params={"limit": 1000})
    traces = res.json()["traces"]
    print(f"a list of 20 traces: {len(res.content):,} bytes")
    assert len(traces) == 20 and len(res.content) < 20 * 500, f"a list of {len(res.content):,} bytes"
    assert {t["input"].get("model") for t in traces} == {"m"} and all("messages" not in t["input"] for t in traces)
