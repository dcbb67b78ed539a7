"""A streaming client that keeps its connection open but reads nothing: once its socket's buffers are
full, the server's send waits for it for good (uvicorn has no send timeout), and the model's stream
was held with it, unbooked, while its budget reservation expired after 10 minutes. Now an event that
waits `[server] stream_stall_s` to be sent ends the model's stream, which is booked as a partial call,
and resets the connection: it stayed open, megabytes waiting in its buffers, for good."""

from __future__ import annotations

import json
import socket
import sqlite3
import time

import pytest

from tests.provider_server import ProviderServer
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow

WORDS = 30_000  # ~210 bytes an event once relayed: ~6 MB, far more than the socket buffers hold


def serve(tmp_path, stall_s: float, words: int = WORDS) -> tuple[LiveServer, ProviderServer]:
    provider = ProviderServer(reply=lambda body: " ".join(f"w{i}" for i in range(words)), usage=(50, words))
    provider.__enter__()
    config = tmp_path / "ragwright.toml"
    config.write_text(
        f'[models.m]\nbase_url = "{provider.base_url}/v1"\nmodel = "m"\ntimeout_s = 60\ncontext_window = 131072\n'
        "input_price_per_mtok = 10.0\noutput_price_per_mtok = 10.0\n\n"
        f"[gateway]\nmax_retries = 0\ncache = false\n\n[server]\nstream_stall_s = {stall_s}\n"
    )
    return LiveServer(tmp_path / "data", config), provider


def silent_client(server: LiveServer, key: str) -> socket.socket:
    """Sends a streamed chat request, then reads nothing, with a tiny receive buffer."""
    body = json.dumps(
        {"model": "m", "stream": True, "max_tokens": WORDS + 10, "messages": [{"role": "user", "content": "Go on."}]}
    )
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.sendall(
        (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
    )
    return sock


def booked(db_path, timeout: float) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(db_path) as db:
            found = db.execute("SELECT output_tokens, cost_usd, error FROM model_calls").fetchall()
        if found:
            return found
        time.sleep(0.2)
    return []


def test_a_client_that_stops_reading_has_its_stream_stopped_and_booked(tmp_path):
    stall_s = 2
    server, provider = serve(tmp_path, stall_s)
    key = server.key("acme", "read")
    server.start()
    sock = silent_client(server, key)
    try:
        started = time.monotonic()
        calls = booked(tmp_path / "data" / "ragwright.db", timeout=stall_s + 20)
        assert calls, "the stalled stream was not stopped: no model_calls row while its client holds on"
        assert time.monotonic() - started < stall_s + 20
        output_tokens, cost, error = calls[0]
        assert output_tokens > 0 and cost > 0 and "interrupted" in error
    finally:
        sock.close()
        server.stop()
        provider.__exit__(None, None, None)


def test_a_client_reading_slowly_but_steadily_gets_the_whole_stream(tmp_path):
    words = 3000
    server, provider = serve(tmp_path, 2, words)
    key = server.key("acme", "read")
    server.start()
    sock = silent_client(server, key)
    try:
        received = bytearray()
        pauses = [1.0, 1.0, 1.0]
        sock.settimeout(30)
        while b"data: [DONE]" not in received[-64:]:
            piece = sock.recv(65536)
            assert piece, "the server closed the stream of a client that was reading"
            received += piece
            if len(received) > 100_000 and pauses:  # a reader that pauses, each time for less than stall_s
                time.sleep(pauses.pop())
        calls = booked(tmp_path / "data" / "ragwright.db", timeout=10)
        assert calls and calls[0][2] is None  # booked whole, no error
        assert received.count(b"data: ") > words and not pauses
    finally:
        sock.close()
        server.stop()
        provider.__exit__(None, None, None)


def tcp_state(sock: socket.socket) -> int:
    """The kernel's state of this end of the connection (tcpi_state: 1 established, 7 closed)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


def test_a_stalled_stream_has_its_connection_closed(tmp_path):
    """Once the stall is detected the server drops the connection, with what waits in its buffers
    (megabytes of events): its send waited for good and the socket stayed open, established."""
    stall_s = 2
    server, provider = serve(tmp_path, stall_s)
    key = server.key("acme", "read")
    server.start()
    sock = silent_client(server, key)
    try:
        started = time.monotonic()
        assert booked(tmp_path / "data" / "ragwright.db", timeout=stall_s + 20)
        stopped = time.monotonic() - started
        while tcp_state(sock) == 1 and time.monotonic() - started < stopped + 5:
            time.sleep(0.1)
        closed = time.monotonic() - started
        assert tcp_state(sock) != 1, f"the connection is still established {closed:.1f} s after its stall"
        assert closed < stall_s + 5, closed
        sock.settimeout(5)
        with pytest.raises(ConnectionResetError):  # what was buffered is dropped, not sent
            while sock.recv(1 << 20):
                pass
    finally:
        sock.close()
        server.stop()
        provider.__exit__(None, None, None)
