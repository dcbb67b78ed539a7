"""The store contract suite's fixtures: every test here runs once per backend.

`backend` gives a fresh, empty database (SQLite: a file in tmp_path; PostgreSQL: a database made
for the test from a template, on the session's throwaway cluster, dropped afterwards); `store`
is one store opened on it with default options; `backend.open(**options)` opens more (a second
process, another ann_threshold)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .backends import PostgresBackend, SqliteBackend

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def _pg_template(postgres_url: str) -> str:
    PostgresBackend.make_template(postgres_url)
    return postgres_url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path) -> Iterator[Any]:
    if request.param == "sqlite":
        made: Any = SqliteBackend(tmp_path)
    else:
        made = PostgresBackend(request.getfixturevalue("_pg_template"))
    yield made
    made.close()


@pytest.fixture
def store(backend: Any) -> Any:
    return backend.open()
