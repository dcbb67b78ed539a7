"""Upload slots are shared between tenants, and a body must keep a pace (review 15b, finding 1):
one tenant's write key opened all [server] max_uploads (4) uploads and sent a byte per connection
every 5 s, under the 30 s pause bound, so each held its slot for upload_timeout_s (600 s) while
every other tenant's upload got 503. Now a tenant holds at most its share of the slots (half of
max_uploads by default: 503 naming server.max_uploads_per_tenant beyond), and a body that falls
behind server.upload_min_kb_s after its first UPLOAD_PACE_GRACE_S is cut with 408. On the real
`ragwright serve` process with its default settings, and on the app driven as an ASGI server."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from ragwright import Settings, Workspace
from ragwright.server import create_app, documents_api
from ragwright.server.auth import create_key
from ragwright.server.documents_api import tenant_share
from tests.server.asgi import http_scope
from tests.server.live import LiveServer
from tests.server.test_upload_admission import RawUpload


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("share")
    server = LiveServer(root / "data")  # the defaults: max_uploads 4, upload_timeout_s 600
    keys = {t: server.key(t, "read,write") for t in ("evil", "acme", "zeta")}
    server.start()
    yield server, keys
    server.stop()


def _stored(server: LiveServer) -> list:
    uploads = server.data_dir / "uploads"
    return sorted(p for p in uploads.rglob("*") if p.is_file()) if uploads.exists() else []


@pytest.mark.slow
def test_one_tenant_cannot_hold_every_upload_slot(live):
    """The review's shape: evil opens max_uploads (4) uploads of 50 MB and sends a byte on each."""
    server, keys = live
    opened = [RawUpload(server, keys["evil"], 50 << 20) for _ in range(4)]
    others: list[RawUpload] = []
    try:
        for upload in opened:
            upload.send(1, block=1)
        time.sleep(0.3)  # the first two admitted, their bodies waiting
        for upload in opened[2:]:  # beyond evil's share: refused at once, not held
            got, headers, body = upload.reply(timeout=3)
            assert got == 503 and body["error"]["type"] == "busy", body
            assert "server.max_uploads_per_tenant: 2 of server.max_uploads = 4" in body["error"]["message"]
            assert int(headers["retry-after"]) >= 1 and headers.get("connection") == "close"
        with server.client(keys["acme"]) as client:  # another tenant's upload goes through
            res = client.post("/v1/documents", files=[("file", ("acme.md", b"# Acme\nStill uploading.\n"))])
        assert res.status_code == 202, res.text
        others = [RawUpload(server, keys["acme"], 50 << 20) for _ in range(2)]  # acme takes the other two
        for upload in others:
            upload.send(1, block=1)
        time.sleep(0.3)
        third = RawUpload(server, keys["zeta"], 1 << 20)  # every slot taken, two tenants each at its share
        got, _, body = third.reply(timeout=3)
        third.close()
        assert got == 503 and "its most at once (server.max_uploads)" in body["error"]["message"]
    finally:
        for upload in opened + others:
            upload.close()


@pytest.mark.slow
def test_a_body_sent_a_byte_every_5_s_is_cut_after_the_grace(live):
    """Under the 30 s pause bound and far from the 600 s deadline: cut once it is behind 64 KB/s."""
    server, keys = live
    before = _stored(server)
    upload = RawUpload(server, keys["evil"], 50 << 20)
    started = time.monotonic()
    try:
        while upload.send(1, block=1):  # a byte every 5 s
            upload.sock.settimeout(5)
            try:
                if upload.sock.recv(1, 2):  # MSG_PEEK: the server has answered
                    break
            except TimeoutError:
                pass
            if time.monotonic() - started > 40:
                break
        got, headers, body = upload.reply(timeout=5)
    finally:
        upload.close()
    took = time.monotonic() - started
    assert got == 408 and body["error"]["type"] == "timeout", body
    assert "slower than 64 KB/s after its first 10 s (server.upload_min_kb_s" in body["error"]["message"]
    assert 9 < took < documents_api.UPLOAD_PACE_GRACE_S + 3, took
    assert headers.get("connection") == "close" and _stored(server) == before


def _drive(ws: Workspace, key: str, chunks: int, chunk: bytes, every_s: float) -> tuple[int, dict, float]:
    """POST a one-file upload to the app as an ASGI server would, `chunks` pieces `every_s` apart."""
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="paced.txt"\r\n\r\n'
    tail = b"\r\n--b--\r\n"
    pieces = [head] + [chunk] * chunks + [tail]
    sent: list[dict] = []

    async def receive() -> dict:
        if not pieces:
            await asyncio.sleep(3600)
        if len(pieces) < chunks + 2:
            await asyncio.sleep(every_s)
        return {"type": "http.request", "body": pieces.pop(0), "more_body": len(pieces) > 0}

    async def send(message: dict) -> None:
        sent.append(message)

    length = len(head) + chunks * len(chunk) + len(tail)
    scope = http_scope(
        "/v1/documents",
        [
            (b"content-type", b"multipart/form-data; boundary=b"),
            (b"content-length", str(length).encode()),
            (b"authorization", f"Bearer {key}".encode()),
        ],
    )
    started = time.monotonic()
    asyncio.run(asyncio.wait_for(create_app(workspace=ws)(scope, receive, send), 20))
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    return sent[0]["status"], body, time.monotonic() - started


def test_a_body_behind_the_minimum_pace_is_cut_and_one_ahead_is_not(tmp_path, embedder, monkeypatch):
    """The grace shortened to 0.2 s; 64 KB/s asked: 16 KB every 0.1 s (160 KB/s) is stored,
    16 KB every 0.5 s (32 KB/s) is cut, with nothing stored."""
    monkeypatch.setattr(documents_api, "UPLOAD_PACE_GRACE_S", 0.2)
    ws = Workspace(settings=Settings(data_dir=tmp_path / "data"), embedder=embedder)
    assert ws.settings.server.upload_min_kb_s == 64
    key = create_key(ws.store, "t1", ["read", "write"])["key"]
    try:
        status, body, _ = _drive(ws, key, 16, b"a" * 16384, 0.1)
        assert status == 202, body
        stored = sorted(p for p in (tmp_path / "data" / "uploads").rglob("*") if p.is_file())
        status, body, took = _drive(ws, key, 16, b"b" * 16384, 0.5)
    finally:
        ws.close()
    assert status == 408 and "slower than 64 KB/s after its first 0.2 s" in body["error"]["message"], body
    assert took < 3  # 8 s at that pace, had it been let finish
    assert sorted(p for p in (tmp_path / "data" / "uploads").rglob("*") if p.is_file()) == stored


def test_the_tenant_share_of_the_slots():
    assert [tenant_share(n, 0) for n in (1, 2, 3, 4, 9)] == [1, 1, 1, 2, 4]  # half, at least one
    assert (tenant_share(4, 3), tenant_share(4, 10)) == (3, 4)  # as set, never over max_uploads
