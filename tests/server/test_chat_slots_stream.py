"""A streamed gateway chat (/v1/chat/completions with a route or model, not `rag:`) holds its
tenant's chat slot ([server] chat_threads_per_tenant) for its whole life, and gives it back however
it ends: its events all sent, its client gone (before or after the first event), the model's stream
cut, the provider failing before any text, or a client that stops reading. Chats and asks hold
slots of their own. Here a tenant holds one chat slot: a second chat of its own while one runs is
refused busy, and a chat of its own answered 200 says its slot came back (a slot that leaked would
refuse every later one)."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from tests.provider_server import ProviderServer, cut_stream, stall, status
from tests.server import slots_live
from tests.server.live import LiveServer
from tests.server.slots_live import STALL_S, WAIT_S, one_slot_each, provider_reply

pytestmark = pytest.mark.slow
TEXT = "Employees travelling abroad get a daily meal allowance."
SLOW_S = 4.0


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("chat-slots")
    with (
        ProviderServer(reply=provider_reply(TEXT, SLOW_S)) as provider,
        one_slot_each(root, provider, "chat", 'model = "fake"', TEXT, ("acme",)) as (server, keys),
    ):
        yield server, provider, keys


def body(content: str = "Allowance?", stream: bool = False, model: str = "fake") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}], "stream": stream, "max_tokens": 600}


def chat(server: LiveServer, key: str, **kw: object) -> httpx.Response:
    with server.client(key) as c:
        return c.post("/v1/chat/completions", json=body(**kw))  # type: ignore[arg-type]


def slot_back_within(server: LiveServer, key: str, seconds: float) -> float:
    return slots_live.slot_back_within(lambda: chat(server, key), seconds, "chat")


def test_a_streamed_chat_holds_its_slot_until_its_client_leaves_and_asks_have_their_own(served):
    server, provider, keys = served
    provider.fail_next(stall(after_tokens=2, seconds=30), on="/chat/completions")
    with (
        server.client(keys["acme"]) as c,
        c.stream("POST", "/v1/chat/completions", json=body(stream=True)) as res,
    ):
        assert res.status_code == 200
        lines = res.iter_lines()
        assert '"content": "Employees' in next(line for line in lines if '"content": "E' in line)
        # the stream is with a provider gone quiet: the tenant's one chat slot is taken
        begun = time.monotonic()
        busy = chat(server, keys["acme"])
        waited = time.monotonic() - begun
        assert busy.status_code == 503 and busy.json()["error"]["type"] == "busy", busy.text[:300]
        assert "server.chat_threads_per_tenant" in busy.json()["error"]["message"]
        assert int(busy.headers["retry-after"]) >= 1 and WAIT_S <= waited < WAIT_S + 2, waited
        streamed = chat(server, keys["acme"], stream=True)
        assert streamed.status_code == 503 and streamed.json()["error"]["type"] == "busy", streamed.text[:300]
        with server.client(keys["acme"]) as a:  # its asks hold slots of their own
            assert a.post("/v1/ask", json={"question": "What allowance abroad?"}).status_code == 200
        assert chat(server, keys["beta"]).status_code == 200  # another tenant is not held up by it
        assert chat(server, keys["beta"], stream=True).status_code == 200
        left = time.monotonic()
    back = slot_back_within(server, keys["acme"], 10)
    print(
        f"busy after {waited:.2f} s; the slot back {back:.2f} s after the client left ({time.monotonic() - left:.2f})"
    )
    assert back < WAIT_S  # the first chat after it is answered


def test_a_streamed_chat_whose_model_stream_is_cut_gives_its_slot_back(served):
    server, provider, keys = served
    provider.fail_next(cut_stream(3), on="/chat/completions")
    res = chat(server, keys["acme"], stream=True)
    assert res.status_code == 200 and "stream_interrupted" in res.text and "[DONE]" not in res.text, res.text[-300:]
    assert slot_back_within(server, keys["acme"], 5) < WAIT_S  # at once: the first chat is answered


def test_a_streamed_chat_that_fails_before_its_text_gives_its_slot_back(served):
    server, provider, keys = served
    provider.fail_next(status(500), on="/chat/completions")  # the provider fails: an error event
    res = chat(server, keys["acme"], stream=True)
    assert res.status_code == 200 and '"type": "upstream_error"' in res.text, res.text[:300]
    assert slot_back_within(server, keys["acme"], 5) < WAIT_S
    res = chat(server, keys["acme"], stream=True, model="nope")  # refused before its first event
    assert res.status_code == 404 and res.json()["error"]["type"] == "model_not_found", res.text[:300]
    assert slot_back_within(server, keys["acme"], 5) < WAIT_S


def test_a_streamed_chat_whose_client_leaves_before_its_first_event_gives_its_slot_back(served):
    server, _, keys = served
    sock = socket.create_connection(("127.0.0.1", server.port))
    payload = json.dumps(body("slow: allowance?", stream=True))
    sock.sendall(
        (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {keys['acme']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n{payload}"
        ).encode()
    )
    time.sleep(0.5)  # the chat is with the slow provider, its response not begun
    sock.close()
    assert chat(server, keys["acme"]).status_code == 503  # held while the provider answers
    assert slot_back_within(server, keys["acme"], SLOW_S + 5) < SLOW_S + 3


def test_a_streamed_chat_whose_client_stops_reading_gives_its_slot_back(served):
    """The client keeps its connection and reads nothing: after stream_stall_s its model stream is
    stopped and its connection reset (ask_stream.relay), and the slot comes back with them."""
    server, _, keys = served
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    payload = json.dumps(body("huge: allowance?", stream=True))
    started = time.monotonic()
    sock.sendall(
        (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {keys['acme']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n{payload}"
        ).encode()
    )
    try:
        time.sleep(0.5)
        assert chat(server, keys["acme"]).status_code == 503  # held while its events wait to be read
        slot_back_within(server, keys["acme"], STALL_S + 15)
        back = time.monotonic() - started
        print(f"the slot back {back:.2f} s after the stream that stalled was asked for")
        assert STALL_S <= back < STALL_S + 6, back  # held until the stall was found, then given back
    finally:
        sock.close()
