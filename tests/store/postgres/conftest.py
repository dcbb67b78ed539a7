"""Fixtures of the PostgreSQL store's own tests."""

from __future__ import annotations

import pytest

from ragwright.store.postgres.store import PostgresStore
from tests.stores import fresh_database


@pytest.fixture
def open_store(postgres_url):
    """Opens stores on one new database (each a process but for the caches they share)."""
    opened: list[PostgresStore] = []
    with fresh_database(postgres_url) as url:

        def open_one() -> PostgresStore:
            opened.append(PostgresStore(url))
            return opened[-1]

        yield open_one
        for store in opened:
            store.close()
