"""The PostgreSQL store's errors name the server it could not reach, never its password."""

from __future__ import annotations

import socket
import time

import pytest

from ragwright.errors import StoreError
from ragwright.store.postgres import PostgresStore, mask_url


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://rag:hunter2@db.example:5433/ragwright", "postgresql://rag:***@db.example:5433/ragwright"),
        ("postgresql://rag@db.example/ragwright", "postgresql://rag@db.example/ragwright"),
        ("postgresql://rag:p%40ss@[::1]:5432/x?sslmode=require", "postgresql://rag:***@[::1]:5432/x?sslmode=require"),
        ("postgresql://db/x?user=rag&password=hunter2", "postgresql://db/x?user=rag&password=***"),
        ("host=db user=rag password=hunter2 dbname=x", "host=db user=rag password=*** dbname=x"),
    ],
)
def test_mask_url(url, shown):
    assert mask_url(url) == shown


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_is_a_store_error_naming_the_url_without_its_password():
    pytest.importorskip("psycopg")
    url = f"postgresql://rag:hunter2@127.0.0.1:{_closed_port()}/ragwright"
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        PostgresStore(url, connect_timeout_s=2)
    message = str(caught.value)
    assert "hunter2" not in message and "\n" not in message
    assert f"postgresql://rag:***@127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}/ragwright" in message
    assert "cannot connect" in message
    assert time.monotonic() - started < 10
