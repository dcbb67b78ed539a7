"""Store URLs for tests that run once per backend: the default SQLite file of a data dir, or a
fresh PostgreSQL database on the session's throwaway cluster (tests/pg.py), dropped afterwards.

    from tests.stores import fresh_database
    with fresh_database(postgres_url) as url: ...      # one database, empty but for pgvector

A test module takes `store_url` by defining it over BACKENDS (see tests/server/test_isolation.py);
PostgreSQL variants of slow tests are made per module, so they cost one database each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ragwright.server.auth import create_key
from ragwright.store.contract import Store
from ragwright.store.factory import open_store
from tests.server.live import LiveServer

BACKENDS = ["sqlite", "postgres"]


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """The URL of a new database made from the contract suite's template (pgvector enabled)."""
    from tests.store.contract.backends import PostgresBackend

    PostgresBackend.make_template(server_url)
    made = PostgresBackend(server_url)
    try:
        yield made.url
    finally:
        made.close()


@contextmanager
def store_url(backend: str, request: Any) -> Iterator[str]:
    """The store URL a test runs on: '' (the data dir's SQLite file, the default) for "sqlite", a
    fresh PostgreSQL database for "postgres" (the session's cluster: `postgres_url`)."""
    if backend == "sqlite":
        yield ""
        return
    with fresh_database(request.getfixturevalue("postgres_url")) as url:
        yield url


def rows_text(url: str) -> str:
    """Every row of every table of a PostgreSQL database, as text: what the API could reach."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return "\n".join(r[0] for t in tables for r in conn.execute(f'SELECT t::text FROM "{t}" t'))


class StoreLiveServer(LiveServer):
    """A live server on the store `url` ('' : the data dir's SQLite file), its keys made there."""

    def __init__(self, data_dir: Path, config: Path | None = None, *, url: str = "", **more: Any) -> None:
        env = {**more.pop("env", {}), **({"RAGWRIGHT_STORE_URL": url} if url else {})}
        super().__init__(data_dir, config, env=env, **more)
        if not url:
            self.env.pop("RAGWRIGHT_STORE_URL", None)
        self.store_url = url

    def open_store(self) -> Store:
        return open_store(self.store_url, default_path=self.data_dir / "ragwright.db")

    def key(self, tenant: str, scopes: str = "read", groups: str = "", rate: int | None = None) -> str:
        store = self.open_store()
        try:
            return create_key(store, tenant, scopes.split(","), groups.split(","), rate_per_min=rate)["key"]
        finally:
            store.close()
