"""Review 14, finding 1: a streamed /v1/chat/completions whose client went away mid-stream was never
billed. The relay stopped reading the model's stream, which stayed suspended until the garbage
collector closed it: no model_calls row, no cost, no trace, and the budget reservation (the call's
largest cost) expired after 10 minutes, so a key capped at $X a day could spend $X every 10 minutes
while the provider billed the operator for each call. Now the stream is read to its end once the
client has gone: the call is booked as the partial call it was (the prompt and the text received),
its reservation settled and its trace written, at once; and the key's budget counts it."""

from __future__ import annotations

import json
import math
import socket
import sqlite3
import time

import httpx
import pytest

from ragwright.models import ledger
from tests.provider_server import ProviderServer, delay, stall, tool_call
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow

PRICE = 10.0  # USD per million tokens, input and output
LIMIT = 0.05  # USD a day for each key
LONG = " ".join(f"word{i}" for i in range(3000))  # sent at once: a model writing fast
# offered a tool, the model says a word and then calls it with ~6 KB of arguments
BIG = " ".join(f"line{i} of the file" for i in range(300))
WRITE = {
    "type": "function",
    "function": {
        "name": "write_file",
        "description": "Write a file.",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    },
}


def reply(body: dict) -> object:
    return ("ok", [tool_call("write_file", {"text": BIG})]) if body.get("tools") else LONG


@pytest.fixture
def served(tmp_path):
    with ProviderServer(reply=reply, usage=(50, 3000)) as provider:
        config = tmp_path / "ragwright.toml"
        config.write_text(
            f'[models.m]\nbase_url = "{provider.base_url}/v1"\nmodel = "m"\ntimeout_s = 10\ntools = true\n'
            f"input_price_per_mtok = {PRICE}\noutput_price_per_mtok = {PRICE}\n\n"
            f'[budgets.per_key]\nscope = "key"\nlimit_usd = {LIMIT}\nperiod = "day"\n\n'
            "[gateway]\nmax_retries = 0\ncache = false\n"
        )
        server = LiveServer(tmp_path / "data", config)
        keys = server.key("acme", "read"), server.key("acme", "read")
        server.start()
        db = sqlite3.connect(tmp_path / "data" / "ragwright.db")
        try:
            yield server, keys, db, provider
        finally:
            db.close()
            server.stop()


def chat(max_tokens: int, stream: bool) -> dict:
    return {
        "model": "m",
        "stream": stream,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "Write a long story."}],
    }


def rows(db: sqlite3.Connection, sql: str, timeout: float = 10.0) -> list[tuple]:
    """The rows `sql` selects, once there are some (the stream is booked after its client left)."""
    deadline = time.monotonic() + timeout
    while not (found := db.execute(sql).fetchall()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_a_client_leaving_mid_stream_is_billed_and_its_budget_counts_it(served):
    server, (key, fresh), db, _ = served
    headers = {"Authorization": f"Bearer {key}"}
    read = []
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=chat(4000, True), headers=headers) as res:
        assert res.status_code == 200
        for line in res.iter_lines():  # ~40 words, then the client hangs up
            if line.startswith("data:") and "word" in line:
                read.append(line)
            if len(read) == 40:
                break
    left = time.monotonic()

    calls = rows(db, "SELECT input_tokens, output_tokens, cost_usd, error FROM model_calls")
    assert len(calls) == 1, "the disconnected call left no model_calls row"  # was: none, ever
    assert time.monotonic() - left < 10  # booked now, not when the garbage collector gets to it
    input_tokens, output_tokens, cost, error = calls[0]
    assert input_tokens > 0 and output_tokens >= 40  # the prompt, and at least the words the client read
    assert output_tokens < 3000  # the text received before the hang-up, not the whole reply
    assert cost == pytest.approx((input_tokens + output_tokens) * PRICE / 1e6) and cost > 0
    assert error and "interrupted" in error
    live = db.execute("SELECT count(*) FROM budget_reservations WHERE expires_at > ?", (time.time(),)).fetchone()
    assert live == (0,)  # settled with the booking, not left to expire in 10 minutes
    traces = rows(db, "SELECT status, cost_usd, data FROM traces WHERE name = 'chat'")
    assert len(traces) == 1, "the disconnected call left no trace"
    assert traces[0][0] == "error" and traces[0][1] == pytest.approx(cost) and '"incomplete": true' in traces[0][2]

    # a call whose largest cost fits the limit alone, but not with what the disconnected call cost
    max_tokens = math.floor((LIMIT - cost / 2) * 1e6 / PRICE) - input_tokens
    assert (input_tokens + max_tokens) * PRICE / 1e6 <= LIMIT < (input_tokens + max_tokens) * PRICE / 1e6 + cost
    with server.client(key) as c:
        refused = c.post("/v1/chat/completions", json=chat(max_tokens, False))
    assert refused.status_code == 429, refused.text  # was 200: the disconnected call counted for nothing
    assert refused.json()["error"]["type"] == "budget_exceeded"
    with server.client(fresh) as c:  # the same call from a key that has spent nothing: it fits
        assert c.post("/v1/chat/completions", json=chat(max_tokens, False)).status_code == 200


def test_a_client_leaving_after_a_tool_call_is_billed_for_the_call(served):
    """Review 14b, F1: what the client is not sent (a tool call's name and arguments, a refusal) was
    not booked: a reply of one word and then a long call, left before its end, was booked one token."""
    server, (key, _), db, provider = served
    provider.fail_next(stall(after_tokens=10**6, seconds=2))  # the whole reply, then the model "still writing"
    body = {**chat(4000, True), "tools": [WRITE], "messages": [{"role": "user", "content": "Say ok, then write."}]}
    got = []
    with httpx.stream(
        "POST", server.url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
    ) as res:
        assert res.status_code == 200
        lines = res.iter_lines()  # held: a dropped line iterator closes the connection at once
        for line in lines:
            got.append(line)
            if line.startswith("data:") and '"content": "ok"' in line:
                break
        time.sleep(0.5)  # the call's arguments reach ragwright; then the client hangs up

    calls = rows(db, "SELECT input_tokens, output_tokens, cost_usd, error FROM model_calls")
    assert len(calls) == 1
    input_tokens, output_tokens, cost, error = calls[0]
    called = "write_file" + json.dumps({"text": BIG})
    # the word and the call the model wrote (was 1: the word alone)
    assert output_tokens == ledger.count_tokens("ok") + ledger.count_tokens(called) > 1500
    assert cost == pytest.approx((input_tokens + output_tokens) * PRICE / 1e6) and error and "interrupted" in error
    assert not any("line0 of the file" in line for line in got)  # none of the call was sent to the client


def test_a_client_leaving_before_the_first_event_is_billed(served):
    """The client hangs up while the model is still silent: the handler gets the first text after
    it left, and the response never sends an event. The stream is read to its end and booked all
    the same (a helper of review 16 saw that the relay's cleanup runs only once it has started)."""
    server, (key, _), db, provider = served
    provider.fail_next(delay(1.5))
    payload = json.dumps(chat(4000, True))
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(
        (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n{payload}"
        ).encode()
    )
    time.sleep(0.5)  # the model has said nothing yet
    sock.close()
    calls = rows(db, "SELECT input_tokens, output_tokens, cost_usd FROM model_calls", timeout=15)
    assert len(calls) == 1, "the call whose client left before its first event was never booked"
    assert calls[0][0] > 0 and calls[0][2] > 0
    live = db.execute("SELECT count(*) FROM budget_reservations WHERE expires_at > ?", (time.time(),)).fetchone()
    assert live == (0,)
