"""Store URLs for tests that run once per backend: the default SQLite file of a data dir, or a
fresh PostgreSQL database on the session's throwaway cluster (tests/pg.py), dropped afterwards.

    from tests.stores import fresh_database
    with fresh_database(postgres_url) as url: ...      # one database, empty but for pgvector

A test module takes `store_url` by defining it over BACKENDS (see tests/server/test_isolation.py);
PostgreSQL variants of slow tests are made per module, so they cost one database each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
