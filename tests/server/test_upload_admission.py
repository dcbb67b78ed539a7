"""An upload is admitted before its body is read (review 15, finding 1): FastAPI parsed a whole
multipart form, spooling its files to the temporary directory, before it checked the key, so a
client without one made the real server write ~300 MB to /tmp and keep it while it held back the
last bytes, then told it 401. Here, on the real `ragwright serve` process and a raw socket: no key,
a bad key and a read key are refused while the body is still coming, with nothing spooled; a body
that trickles or stalls is cut at [server] upload_timeout_s (408, its temporary files gone); the
uploads received at once are capped at [server] max_uploads (503, Retry-After); a multipart body
sent to any other route has the ordinary body limit."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from ragwright import Settings, Workspace
from ragwright.server import create_app, documents_api
from ragwright.server.auth import create_key
from tests.server.asgi import http_scope
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow

BOUNDARY = "rv15"
TIMEOUT_S = 3  # the server's upload_timeout_s here


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("admission")
    spool = root / "spool"  # the server's temporary directory: what a form's files are spooled to
    spool.mkdir()
    config = root / "ragwright.toml"
    config.write_text(f"[server]\nmax_uploads = 2\nupload_timeout_s = {TIMEOUT_S}\n")
    live = LiveServer(root / "data", config, env={"TMPDIR": str(spool)})
    keys = {"write": live.key("acme", "read,write"), "read": live.key("acme", "read")}
    live.start()
    yield live, keys, spool
    live.stop()


def spooled(server: LiveServer, spool: Path) -> int:
    """Bytes in the server's open temporary files (unlinked as made: seen through /proc/PID/fd)."""
    total = 0
    for fd in os.listdir(f"/proc/{server.proc.pid}/fd"):
        try:
            if os.readlink(f"/proc/{server.proc.pid}/fd/{fd}").startswith(str(spool)):
                total += os.stat(f"/proc/{server.proc.pid}/fd/{fd}").st_size
        except OSError:
            pass  # closed meanwhile
    return total


class RawUpload:
    """A multipart upload of one `size`-byte file, sent by hand so that it can stop half-way."""

    def __init__(self, server: LiveServer, key: str | None, size: int, path: str = "/v1/documents") -> None:
        part = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        auth = f"Authorization: Bearer {key}\r\n" if key else ""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(part) + size + len(self.tail)}\r\n\r\n"
        ).encode()
        self.size, self.sent = size, 0
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        self.sock.sendall(head + part)

    def send(self, n: int, block: int = 1 << 18) -> bool:
        """Up to `n` more bytes of the file; False once the server has closed the connection."""
        try:
            while n > 0 and self.sent < self.size:
                step = min(block, n, self.size - self.sent)
                self.sock.sendall(b"x" * step)
                self.sent, n = self.sent + step, n - step
            if self.sent == self.size:
                self.sock.sendall(self.tail)
        except OSError:
            return False
        return True

    def feed(self, n: int) -> threading.Thread:
        """Send `n` bytes from another thread: a server that reads nothing blocks the sender."""
        thread = threading.Thread(target=self.send, args=(n,), daemon=True)
        thread.start()
        return thread

    def reply(self, timeout: float) -> tuple[int, dict, dict]:
        """Status, headers and JSON body of the server's answer, read within `timeout` seconds."""
        self.sock.settimeout(timeout)
        data = b""
        try:
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            raise AssertionError(f"no answer in {timeout} s ({self.sent} bytes of {self.size} sent)") from None
        head, body = data.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        return int(lines[0].split()[1]), headers, json.loads(body)

    def close(self) -> None:
        self.sock.close()


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30


def wait_for(check, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize(
    ("who", "status", "kind"),
    [(None, 401, "unauthorized"), ("bad", 401, "unauthorized"), ("read", 403, "forbidden")],
)
def test_an_upload_without_the_write_scope_is_refused_before_its_body_is_read(server, who, status, kind):
    live, keys, spool = server
    key = {"bad": "rw_000000000000_not-a-key"}.get(who, keys.get(who or ""))
    upload = RawUpload(live, key, 300 << 20)  # declared: 300 MB, within the upload limit of 1 GB
    feeder = upload.feed(32 << 20)  # stops when the server closes the connection
    peak = 0
    started = time.monotonic()
    sampler = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not sampler.is_set():
            peak = max(peak, spooled(live, spool))
            time.sleep(0.005)

    threading.Thread(target=sample, daemon=True).start()
    try:
        got, headers, body = upload.reply(timeout=10)
    finally:
        sampler.set()
        feeder.join(10)
        upload.close()
    assert (got, body["error"]["type"]) == (status, kind)
    assert headers.get("connection") == "close"  # the rest of the body is never read
    assert time.monotonic() - started < 5
    assert upload.sent < 32 << 20, "the server read the body before answering"
    assert peak == 0, f"{peak} bytes spooled for a request without the write scope"


def test_a_stalled_upload_is_cut_at_the_deadline_and_its_spooled_files_go(server):
    live, keys, spool = server
    uploads = live.data_dir / "uploads"
    before = sorted(uploads.rglob("*")) if uploads.exists() else []
    upload = RawUpload(live, keys["write"], 8 << 20)
    upload.send(4 << 20)  # then nothing more: the closing boundary never comes
    try:
        assert wait_for(lambda: spooled(live, spool) >= 3 << 20), "the write key's upload is being spooled"
        started = time.monotonic()
        got, headers, body = upload.reply(timeout=TIMEOUT_S + 5)
    finally:
        upload.close()
    assert got == 408 and body["error"]["type"] == "timeout"
    assert f"{TIMEOUT_S} s (server.upload_timeout_s)" in body["error"]["message"]
    assert time.monotonic() - started < TIMEOUT_S + 1 and headers.get("connection") == "close"
    assert wait_for(lambda: spooled(live, spool) == 0), "the spooled file outlived its request"
    assert (sorted(uploads.rglob("*")) if uploads.exists() else []) == before  # nothing stored


def test_a_trickling_upload_is_cut_at_the_deadline(server):
    live, keys, _spool = server
    upload = RawUpload(live, keys["write"], 1 << 20)
    started = time.monotonic()
    try:
        while time.monotonic() - started < TIMEOUT_S + 3 and upload.send(64, block=64):  # never a long pause
            time.sleep(0.1)
        got, _, body = upload.reply(timeout=5)
    finally:
        upload.close()
    assert got == 408 and body["error"]["type"] == "timeout"
    assert time.monotonic() - started < TIMEOUT_S + 3 and upload.sent < 1 << 20


def test_uploads_received_at_once_are_capped(server):
    live, keys, _spool = server
    held = [RawUpload(live, keys["write"], 2 << 20) for _ in range(2)]  # max_uploads = 2
    try:
        for upload in held:
            upload.send(1 << 20)
        time.sleep(0.3)  # both admitted, their bodies half-read
        third = RawUpload(live, keys["write"], 2 << 20)
        got, headers, body = third.reply(timeout=2)
        third.close()
        assert got == 503 and body["error"]["type"] == "busy" and "server.max_uploads" in body["error"]["message"]
        assert int(headers["retry-after"]) >= 1 and headers.get("connection") == "close"
    finally:
        for upload in held:
            upload.close()  # a client that goes frees its slot at once
    time.sleep(0.3)
    with live.client(keys["write"]) as client:
        res = client.post("/v1/documents", files=[("file", ("after.md", b"# After\nThe slots are free again.\n"))])
    assert res.status_code == 202, res.text


def test_a_multipart_body_sent_elsewhere_has_the_ordinary_limit(server):
    """FastAPI reads a JSON route's body whole, into memory, before the key: a multipart one had
    the upload's 1 GB limit on every route."""
    live, _keys, _spool = server
    declared = RawUpload(live, None, 300 << 20, path="/v1/search")
    got, _, body = declared.reply(timeout=5)  # not a byte of the file sent
    declared.close()
    assert got == 413 and "server.max_body_mb" in body["error"]["message"]
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:  # chunked: no length declared
        sock.sendall(
            b"POST /v1/search HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
        )
        sent = 0
        try:
            while sent < 64 << 20:
                sock.sendall(b"40000\r\n" + b"x" * 0x40000 + b"\r\n")
                sent += 0x40000
        except OSError:
            pass  # closed by the server after its 413
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413") and sent < 8 << 20


def test_an_upload_that_pauses_too_long_is_cut(tmp_path, embedder, monkeypatch):
    """The pause allowed inside a body (30 s) shortened: the app driven as an ASGI server would,
    with a body whose rest never comes."""
    monkeypatch.setattr(documents_api, "UPLOAD_IDLE_S", 0.3)
    ws = Workspace(settings=Settings(data_dir=tmp_path / "data"), embedder=embedder)
    key = create_key(ws.store, "t1", ["read", "write"])["key"]
    part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.md"\r\n\r\n# A\n'
    sent: list[dict] = []
    calls = 0

    async def receive() -> dict:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": part, "more_body": True}
        await asyncio.sleep(3600)  # the client says nothing more
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        sent.append(message)

    scope = http_scope(
        "/v1/documents",
        [
            (b"content-type", b"multipart/form-data; boundary=b"),
            (b"content-length", b"100000"),
            (b"authorization", f"Bearer {key}".encode()),
        ],
    )
    started = time.monotonic()
    asyncio.run(asyncio.wait_for(create_app(workspace=ws)(scope, receive, send), 10))
    ws.close()
    assert sent[0]["status"] == 408 and time.monotonic() - started < 3
    error = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["error"]
    assert error["type"] == "timeout" and "stopped for over 0.3 s" in error["message"]
