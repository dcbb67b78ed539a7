"""Errors nobody planned for still answer in the API's one JSON shape (`{"error": {"type",
"message"}}`), which clients parse: SQLite's own errors raised mid-request (a file locked past the
busy timeout: 503 with Retry-After; a damaged file: 500 store_error) and any other exception (500
internal_error, no details). They were a bare text "Internal Server Error"."""

from __future__ import annotations

import sqlite3

import pytest
from fastapi.testclient import TestClient

from ragwright import TextRecord
from ragwright.server import create_app
from ragwright.server.auth import create_key


@pytest.fixture
def client(workspace):
    workspace.ingest_records([TextRecord(id="leave", text="Parental leave lasts 16 weeks at full pay.")])
    key = create_key(workspace.store, "default", ["read"])["key"]
    app = create_app(workspace=workspace)
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}, raise_server_exceptions=False) as c:
        yield c, workspace


def _failing(workspace, monkeypatch, exc: Exception) -> None:
    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(workspace.store, "keyword_search", fail)


def test_a_locked_store_is_a_503_worth_retrying(client, monkeypatch):
    c, ws = client
    _failing(ws, monkeypatch, sqlite3.OperationalError("database is locked"))
    res = c.post("/v1/search", json={"query": "parental leave", "mode": "bm25"})
    assert res.status_code == 503 and res.headers["retry-after"] == "1"
    assert res.json()["error"]["type"] == "store_unavailable"


def test_a_damaged_store_is_a_500_in_the_error_shape(client, monkeypatch):
    c, ws = client
    _failing(ws, monkeypatch, sqlite3.DatabaseError("database disk image is malformed"))
    res = c.post("/v1/search", json={"query": "parental leave", "mode": "bm25"})
    assert res.status_code == 500
    assert res.json()["error"] == {
        "type": "store_error",
        "message": "the store failed (database disk image is malformed): the server's log has more",
    }


def test_any_other_exception_is_a_500_without_details(client, monkeypatch):
    c, ws = client
    _failing(ws, monkeypatch, RuntimeError("secret internals at /srv/data"))
    res = c.post("/v1/search", json={"query": "parental leave", "mode": "bm25"})
    assert res.status_code == 500 and res.json()["error"]["type"] == "internal_error"
    assert "/srv/data" not in res.text
