"""Connections a worker process holds are bounded by [server] max_connections (uvicorn's
limit_concurrency: a request arriving when the process holds that many connections, its own
included, gets 503 and is closed), and a connection must send a request's headers within
[server] header_timeout_s: before, nothing bounded either, and a connection that sent nothing, or
half a request line, was held for good (40 s and counting, measured), so that a bound on
connections alone would have let a few silent sockets turn every request away for as long as they
liked. On the real `ragwright serve` process (one worker and two) over raw sockets."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

from ragwright.config import ServerSettings
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow

MAX_CONNECTIONS = 5
HEADER_TIMEOUT_S = 2.0


def serve(tmp_path, workers: int = 1, max_connections: int = MAX_CONNECTIONS) -> LiveServer:
    config = tmp_path / "ragwright.toml"
    config.write_text(f"[server]\nmax_connections = {max_connections}\nheader_timeout_s = {HEADER_TIMEOUT_S}\n")
    return LiveServer(tmp_path / "data", config, workers=workers).start()


def connect(server: LiveServer, sent: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    if sent:
        sock.sendall(sent)
    return sock


def until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float | None]:
    """What the server sent, and when (seconds from now) it closed the connection: None if it did not."""
    started, data = time.monotonic(), b""
    sock.settimeout(0.1)
    while time.monotonic() - started < timeout:
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return data, time.monotonic() - started
        if not piece:
            return data, time.monotonic() - started
        data += piece
    return data, None


def healthz(server: LiveServer) -> int:
    with httpx.Client(timeout=10) as client:
        return client.get(server.url + "/healthz").status_code


def test_connections_beyond_the_bound_get_503_and_silent_ones_are_closed(tmp_path):
    server = serve(tmp_path)
    silent = [connect(server) for _ in range(MAX_CONNECTIONS - 1)]
    try:
        time.sleep(0.2)
        opened = time.monotonic()
        assert healthz(server) == 503  # was 200: nothing bounded the connections
        for sock in silent:  # was: open after 40 s
            data, closed = until_closed(sock, HEADER_TIMEOUT_S + 3 - (time.monotonic() - opened))
            assert data == b"" and closed is not None, "a connection that sent nothing was kept"
        took = time.monotonic() - opened
        assert HEADER_TIMEOUT_S - 0.5 < took < HEADER_TIMEOUT_S + 2, took
        assert healthz(server) == 200  # their places are free again
    finally:
        for sock in silent:
            sock.close()
        server.stop()


def test_a_request_whose_headers_stall_gets_408_and_is_closed(tmp_path):
    server = serve(tmp_path, max_connections=0)  # no bound on connections: the deadline alone
    partial = connect(server, b"GET /healthz HTTP/1.1\r\nHo")
    kept = connect(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        data, closed = until_closed(partial, HEADER_TIMEOUT_S + 3)
        assert closed is not None and HEADER_TIMEOUT_S - 0.5 < closed < HEADER_TIMEOUT_S + 2, closed
        head, body = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head
        error = json.loads(body)["error"]
        assert error["type"] == "timeout" and "server.header_timeout_s" in error["message"]
        # a connection kept alive after a whole request still serves the next one
        kept.settimeout(5)
        assert kept.recv(65536).startswith(b"HTTP/1.1 200")
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert kept.recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        partial.close()
        kept.close()
        server.stop()


def test_each_worker_process_holds_its_bound(tmp_path):
    """`--workers 2`: the options reach the worker processes (the supervisor hands each new
    connection to the worker holding the fewest)."""
    server = serve(tmp_path, workers=2, max_connections=3)
    silent = [connect(server) for _ in range(4)]  # two in each worker
    try:
        time.sleep(0.5)
        assert healthz(server) == 503
        for sock in silent:
            assert until_closed(sock, HEADER_TIMEOUT_S + 3)[1] is not None
        assert healthz(server) == 200
    finally:
        for sock in silent:
            sock.close()
        server.stop()


def test_the_defaults():
    settings = ServerSettings()
    assert settings.max_connections == 0 and settings.header_timeout_s == 20  # review 16b: a cap anyone can fill
