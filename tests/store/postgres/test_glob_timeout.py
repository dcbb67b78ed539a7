"""Review 15, finding 4 on PostgreSQL: each `source` pattern was its own regex (`~ %s` per
pattern), and PostgreSQL keeps 32 compiled regexes, so a filter of more recompiled every one for
every row; and no statement had a timeout, so such a query held a pooled connection (10 in all)
for as long as it ran, after its client had gone. Now a filter's patterns are one anchored
regex, compiled once per query, and a read is cancelled after [store] statement_timeout_s."""

from __future__ import annotations

import sqlite3
import time

import pytest

from ragwright.errors import StoreError, StoreUnavailable
from ragwright.store.globs import MAX_FILTER_GLOBS
from ragwright.store.postgres.filters import filter_sql
from ragwright.store.postgres.store import PostgresStore
from ragwright.store.sql import ShownSource
from tests.store.postgres.test_filters import PATHS, PATTERNS
from tests.stores import fresh_database


@pytest.fixture
def url(postgres_url):
    with fresh_database(postgres_url) as made:
        yield made


def test_a_filters_patterns_are_one_regex_that_matches_what_glob_matches(postgres_url):
    import psycopg

    lite = sqlite3.connect(":memory:")
    groups = [PATTERNS[i : i + MAX_FILTER_GLOBS] for i in range(0, len(PATTERNS), MAX_FILTER_GLOBS)]
    groups += [PATTERNS[i::3][:MAX_FILTER_GLOBS] for i in range(3)]
    with psycopg.connect(postgres_url) as conn:
        for patterns in groups:
            where, params = filter_sql({"source": [*patterns, "/price$5"]})
            assert where.count("~") == 1, where  # one regex, whatever the number of patterns
            assert params[1:] == [["/price$5"]]  # a plain source is compared (as one text array)
            regex = params[0]
            for path in PATHS:
                want = any(lite.execute("SELECT ? GLOB ?", (path, p)).fetchone()[0] for p in patterns)
                got = conn.execute("SELECT %s ~ %s", (path, regex)).fetchone()[0]
                assert got == want, (patterns, path, regex)
    shown, params = filter_sql({"source": ShownSource("/srv/data", tuple(PATTERNS[:MAX_FILTER_GLOBS]))})
    assert shown.count(" ~ %s") == 1 and len(params) == 3  # the source as shown, computed once per row


def test_a_read_past_the_statement_timeout_is_cancelled_with_a_503_naming_the_setting(url):
    store = PostgresStore(url, statement_timeout_s=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            store._all("SELECT pg_sleep(3)")  # a read as every request's reads are made
        took = time.monotonic() - started
        assert 0.4 < took < 2.0, took
        message = str(caught.value)
        assert "statement timeout (0.5 s, [store] statement_timeout_s)" in message, message
        assert caught.value.retry_after_s > 0
        assert store.count_documents() == 0  # the connection went back to the pool, usable
        assert store.db.pool.get_stats().get("connections_lost", 0) == 0
    finally:
        store.close()


def test_writes_and_whole_index_reads_are_not_bounded(url):
    store = PostgresStore(url, statement_timeout_s=0.3)
    try:
        with store.db.write(generation=False) as (cur, _):  # a write may wait for the write lock
            cur.execute("SELECT pg_sleep(0.6)")
        with store.db.read(snapshot=True) as cur:  # the keyword index read whole
            cur.execute("SELECT pg_sleep(0.6)")
        with pytest.raises(StoreUnavailable):  # and after them, reads are bounded again
            store._all("SELECT pg_sleep(1)")
    finally:
        store.close()


def test_zero_turns_the_timeout_off_and_a_negative_one_is_refused(url):
    store = PostgresStore(url, statement_timeout_s=0)
    try:
        assert store._all("SHOW statement_timeout") == [("0",)]
        store._all("SELECT pg_sleep(0.3)")
    finally:
        store.close()
    with pytest.raises((ValueError, StoreError), match="statement_timeout_s"):
        PostgresStore(url, statement_timeout_s=-1)


def test_the_default_is_five_seconds(url):
    store = PostgresStore(url)
    try:
        assert store._all("SHOW statement_timeout") == [("5s",)]
    finally:
        store.close()
