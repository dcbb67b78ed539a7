"""A request body but an upload's has [server] body_timeout_s to arrive whole: a client, with any
key or none, opened connections and sent a JSON body's declared bytes one at a time (or none at
all), and the server held each connection and what had come of its body for as long as the client
liked. Now such a body gets 408 at the bound and its connection is closed. On the real `ragwright
serve` process over raw sockets; and the bound's edges on the receive wrapper itself."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from ragwright.config import ServerSettings
from ragwright.server.bodies import BodyLate, timed_receive
from tests.server.live import LiveServer

TIMEOUT_S = 2.0  # the server's body_timeout_s here
BODY = json.dumps({"query": "what is the refund policy", "k": 3}).encode()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("body-timeout")
    config = root / "ragwright.toml"
    config.write_text(f"[server]\nbody_timeout_s = {TIMEOUT_S}\n")
    server = LiveServer(root / "data", config)
    key = server.key("acme", "read")
    server.start()
    yield server, key
    server.stop()


def open_post(server: LiveServer, key: str | None, length: int) -> socket.socket:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(
        (
            f"POST /v1/search HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()
    )
    return sock


def read_all(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """What the server sent within `timeout` seconds, and whether it then closed the connection."""
    sock.settimeout(0.2)
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            piece = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return data, True
        if not piece:
            return data, True
        data += piece
    return data, False


def status_and_error(data: bytes) -> tuple[int, dict]:
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split()[1]), json.loads(body)["error"]


@pytest.mark.slow
@pytest.mark.parametrize("with_key", [False, True])
def test_a_body_trickled_a_byte_at_a_time_is_cut_and_closed(live, with_key):
    """Twenty connections, each sending a byte every 0.2 s of a declared 1,000-byte body: without the
    bound, none had an answer (each would take 200 s, and a client may go as slow as it likes)."""
    server, key = live
    socks = [open_post(server, key if with_key else None, 1000) for _ in range(20)]
    started = time.monotonic()
    try:
        closed_at: dict[int, float] = {}
        while len(closed_at) < len(socks) and time.monotonic() - started < TIMEOUT_S + 10:
            for i, sock in enumerate(socks):
                if i in closed_at:
                    continue
                try:
                    sock.sendall(b" ")
                except OSError:  # the server closed it
                    closed_at[i] = time.monotonic() - started
            time.sleep(0.2)
        assert len(closed_at) == len(socks), f"{len(socks) - len(closed_at)} of {len(socks)} still open"
        for sock in socks:
            data, closed = read_all(sock, 3)
            got, error = status_and_error(data)
            assert got == 408 and error["type"] == "timeout", data
            assert f"did not arrive within {TIMEOUT_S:g} s (server.body_timeout_s)" in error["message"]
            assert b"connection: close" in data.lower() and closed
        assert TIMEOUT_S - 0.5 < max(closed_at.values()) < TIMEOUT_S + 3, closed_at
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.slow
def test_a_body_that_never_comes_is_cut_and_closed(live):
    server, _ = live
    sock = open_post(server, None, 1000)
    started = time.monotonic()
    try:
        data, closed = read_all(sock, TIMEOUT_S + 5)
        took = time.monotonic() - started
    finally:
        sock.close()
    assert data.startswith(b"HTTP/1.1 408") and closed, data
    assert TIMEOUT_S - 0.5 < took < TIMEOUT_S + 2


@pytest.mark.slow
def test_a_body_sent_in_slow_parts_within_the_bound_is_read(live):
    """Three parts 0.5 s apart (1.5 s of a 2 s bound): the request is answered for what it is (its
    key refused here: 401), not cut, and the connection stays open for the next request."""
    server, _ = live
    sock = open_post(server, "rw_not_a_key", len(BODY))
    try:
        third = len(BODY) // 3
        for part in (BODY[:third], BODY[third : 2 * third], BODY[2 * third :]):
            sock.sendall(part)
            time.sleep(0.5)
        data, closed = read_all(sock, 1)
        assert data.startswith(b"HTTP/1.1 401") and not closed, data
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        data, _ = read_all(sock, 1)
        assert data.startswith(b"HTTP/1.1 200"), data
    finally:
        sock.close()


def test_after_the_body_the_wait_for_a_disconnect_is_not_bounded():
    """A streamed answer waits on `receive` for its client to go away, long after its body came:
    only the body's reads are timed."""
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> dict:
        if messages:
            return messages.pop()
        await asyncio.sleep(0.3)  # longer than the bound below
        return {"type": "http.disconnect"}

    async def run() -> list[dict]:
        timed = timed_receive(receive, 0.1, 0.1, setting="server.body_timeout_s")
        return [await timed(), await timed()]

    first, second = asyncio.run(run())
    assert first["body"] == b"{}" and second["type"] == "http.disconnect"


def test_a_body_pausing_past_the_idle_bound_is_cut_naming_the_pause():
    async def receive() -> dict:
        await asyncio.sleep(5)
        raise AssertionError("unreachable")

    async def run() -> None:
        await timed_receive(receive, 10, 0.1, setting="server.body_timeout_s")()

    started = time.monotonic()
    with pytest.raises(BodyLate) as late:
        asyncio.run(run())
    assert late.value.status_code == 408 and "stopped for over 0.1 s" in late.value.detail
    assert time.monotonic() - started < 1


def test_the_setting_defaults_to_30_s_and_must_be_positive():
    assert ServerSettings().body_timeout_s == 30
    with pytest.raises(ValueError):
        ServerSettings(body_timeout_s=0)
