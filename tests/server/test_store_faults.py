"""Issue 18's faults, on a real PostgreSQL: the database restarted under a running server (503
store_unavailable while it is down, served again after, without restarting the server), every
pooled connection busy (503 with Retry-After within the pool's timeout, never a hang), and
pgvector missing or too old (an error that says how to install it, nothing written)."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient

from ragwright.config import Settings
from ragwright.errors import StoreError
from ragwright.server.app import create_app
from ragwright.server.auth import create_key
from ragwright.store.postgres import PostgresStore
from ragwright.store.postgres import schema as pg_schema
from ragwright.workspace import Workspace
from tests import pg
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """A cluster of this module's own: the restart test stops it, which must not hit other tests."""
    pg.require()
    made = pg.start()
    yield made
    pg.stop(made)


def _database(server_url: str) -> str:
    import psycopg

    name = f"faults_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


def _key(url: str, rate: int | None = None) -> str:
    store = PostgresStore(url)
    try:
        return create_key(store, "acme", ["read", "write"], rate_per_min=rate)["key"]
    finally:
        store.close()


def test_a_database_restart_is_503_while_down_and_served_again_after(cluster, tmp_path):
    url = _database(cluster.url)
    key = _key(url)
    server = LiveServer(tmp_path / "data", env={"RAGWRIGHT_STORE_URL": url}).start()
    try:
        with server.client(key) as client:
            assert client.get("/v1/documents").status_code == 200
            pg.pause(cluster)
            answers: list[httpx.Response] = []
            started = time.monotonic()
            for _ in range(2):  # a dead pooled connection, then a pool that cannot reconnect
                answers.append(client.get("/v1/documents", timeout=30))
            down_s = time.monotonic() - started
            # a keyword search once ran on the event loop when its indexes looked current: asking
            # the database whether they were blocked the loop for as long as the pool waited
            search = {"query": "anything", "mode": "bm25"}
            slow = threading.Thread(target=lambda: answers.append(client.post("/v1/search", json=search, timeout=30)))
            slow.start()
            time.sleep(0.2)
            beat = time.monotonic()
            assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200  # the event loop is not waiting
            healthz_s = time.monotonic() - beat
            ready = httpx.get(server.url + "/readyz", timeout=5)  # alive, but not ready to serve
            assert ready.status_code == 503 and ready.json()["error"]["type"] == "not_ready", ready.text
            slow.join()
            during = client.post("/v1/documents", files=[("file", ("during.md", b"# During\n\nLost upload.\n"))])
            answers.append(during)  # no job could be stored: 503, and no document comes of it
            for res in answers:
                assert res.status_code == 503, res.text
                assert res.json()["error"]["type"] == "store_unavailable"
                assert int(res.headers["retry-after"]) >= 1
                assert "127.0.0.1" in res.json()["error"]["message"]
            assert down_s < 5 and healthz_s < 1.0, (down_s, healthz_s)
            pg.resume(cluster)
            back = time.monotonic()
            while (res := client.get("/v1/documents")).status_code != 200:
                assert res.status_code == 503 and time.monotonic() - back < 20, res.text
                time.sleep(0.2)
            recovered_s = time.monotonic() - back
            after = ("after.md", b"# After\n\nWritten after the restart.\n")
            up = client.post("/v1/documents", files=[("file", after)])
            assert up.status_code == 202 and server.wait_job(client, up.json()["job_id"])["status"] == "done"
            sources = [d["source"] for d in client.get("/v1/documents").json()["documents"]]
            assert sources == ["after.md"], sources
        assert server.proc.poll() is None  # the same process throughout
        print(f"restart: 503s took {down_s:.1f} s for two requests; served again {recovered_s:.1f} s after start")
    finally:
        server.stop()
        if not (cluster.folder / "data" / "postmaster.pid").exists():
            pg.resume(cluster)


def test_an_exhausted_pool_is_503_with_retry_after_before_its_timeout(cluster, tmp_path, embedder):
    url = _database(cluster.url)
    settings = Settings(data_dir=tmp_path / "data", store={"url": url})
    ws = Workspace(settings=settings, embedder=embedder)
    store = PostgresStore(url, pool_min=1, pool_max=1, timeout_s=0.5)
    ws._store = store  # one connection, half a second to get it
    key = create_key(store, "acme", ["read"])["key"]
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(workspace=ws)) as client:
        with store.db.pool.connection():  # someone holds the only connection
            started = time.monotonic()
            res = client.get("/v1/documents", headers=headers)
            waited = time.monotonic() - started
        assert res.status_code == 503 and res.json()["error"]["type"] == "store_unavailable", res.text
        assert res.headers["retry-after"] == "1" and "no free connection within 0.5 s" in res.json()["error"]["message"]
        assert waited < 2.0, waited
        deadline = time.monotonic() + 5
        while (res := client.get("/v1/documents", headers=headers)).status_code != 200:
            assert time.monotonic() < deadline, res.text
    ws.close()


class _Server:
    """What ensure_pgvector reads of a server, as one without pgvector (or with an old one)
    answers; every statement is recorded, to check that nothing was written."""

    def __init__(self, available: str | None, installed: str | None = None) -> None:
        self.available, self.installed = available, installed
        self.statements: list[str] = []

    def execute(self, sql: str, params: tuple = ()) -> _Server:
        self.statements.append(sql)
        self._row: tuple | None
        if "pg_available_extensions" in sql:
            self._row = None if self.available is None else (self.available, self.installed)
        elif "to_regclass" in sql:
            self._row = (False,)
        else:
            raise AssertionError(f"nothing should run after the check: {sql}")
        return self

    def fetchone(self) -> tuple | None:
        return self._row


@pytest.mark.parametrize(
    "server, expected",
    [
        (_Server(None), "pgvector is not installed on the server: install pgvector 0.8 or newer"),
        (_Server("0.7.4"), "pgvector 0.7.4 is installed on the server, but 0.8 or newer is needed"),
        (_Server("0.8.0", "0.7.0"), "ALTER EXTENSION vector UPDATE"),
    ],
    ids=["missing", "too-old-on-the-server", "too-old-in-the-database"],
)
def test_pgvector_missing_or_too_old_says_how_to_install_and_writes_nothing(server, expected):
    with pytest.raises(StoreError) as caught:
        pg_schema.migrate(server, "postgresql://rag:***@db:5432/x")
    assert expected in str(caught.value) and "postgresql://rag:***@db:5432/x" in str(caught.value)
    assert not any("CREATE" in s or "INSERT" in s for s in server.statements)
