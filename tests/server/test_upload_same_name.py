"""Two uploads of one file name into one scope at the same time: each was written into the same
`NAME.part` (opened "wb", so each truncated the other's), and the second rename found no .part
(a 500) or renamed a mix of both. Now each upload writes a .part of its own and the last renamed
wins, whole."""

from __future__ import annotations

import threading

import pytest

from tests.server.live import LiveServer

pytestmark = pytest.mark.slow

SIZE = 12 * 1024 * 1024  # a dozen 1 MB blocks each: the two copies interleave on the event loop


def upload(server: LiveServer, key: str, body: bytes, start: threading.Barrier, statuses: list[int]) -> None:
    with server.client(key) as c:
        start.wait()
        statuses.append(c.post("/v1/documents", files=[("file", ("same.pdf", body))]).status_code)


def test_concurrent_uploads_of_one_name_leave_one_whole_file(tmp_path):
    server = LiveServer(tmp_path / "data")
    key = server.key("acme", "read,write")
    server.start()
    try:
        for round_ in range(3):
            bodies = [bytes([65 + round_ * 2]) * SIZE, bytes([66 + round_ * 2]) * SIZE]
            statuses: list[int] = []
            start = threading.Barrier(2)
            threads = [threading.Thread(target=upload, args=(server, key, b, start, statuses)) for b in bodies]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert statuses == [202, 202], statuses
            (stored,) = (tmp_path / "data").rglob("same.pdf")
            assert stored.read_bytes() in bodies  # one upload whole, not a mix
            assert not list((tmp_path / "data").rglob("*.part"))
    finally:
        server.stop()
