"""Review 15b, finding 2: SQLite had no statement timeout, so a `source` glob over a large tenant
ran as long as the tenant made it (PostgreSQL's reads are cancelled after [store]
statement_timeout_s). Now a read on a reader connection is interrupted past the same setting, a
StoreUnavailable (503) naming it, while writes and the whole-index reads that rebuild the
in-memory indexes (both on the writing connection) are never cut."""

from __future__ import annotations

import time

import pytest

from ragwright.errors import StoreUnavailable
from ragwright.store.factory import open_store
from ragwright.store.sqlite import SqliteStore
from ragwright.store.timeouts import STATEMENT_TIMEOUT_S
from ragwright.types import Access
from tests.store.contract.backends import document

# ~seconds of SQLite work on this machine, far past the short timeouts below
SLOW_READ = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000000) SELECT count(*) FROM c"
CLASS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&"  # none of it in the sources below


def _costly(tag: int) -> list[str]:
    """The review's filter: a star, 7 inverted classes scanned whole at every position, a failing tail."""
    return ["*" + ("[^" + CLASS + "]") * 7 + f"@{tag:04d}{i}" for i in range(8)]


def _docs(n: int, chunks: int = 1) -> list:
    long = "/srv/" + "a" * 180
    return [
        document(f"d{i}", [f"note {i} part {j}" for j in range(chunks)], tenant="evil", source=f"{long}{i}")
        for i in range(n)
    ]


def test_a_read_past_the_statement_timeout_is_a_503_naming_the_setting(tmp_path):
    store = SqliteStore(tmp_path / "s.db", statement_timeout_s=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            store._all(SLOW_READ)  # a read as every request's reads are made
        took = time.monotonic() - started
        assert 0.25 < took < 1.5, took
        message = str(caught.value)
        assert "statement timeout (0.3 s, [store] statement_timeout_s)" in message, message
        assert "narrow the request's filters, or try again" in message
        assert caught.value.retry_after_s > 0
        store.write_documents(_docs(3))  # the reader is usable again, and sees a later write
        assert store.count_documents() == 3
        assert set(store.get_chunks(["d0#0", "d2#0"])) == {"d0#0", "d2#0"}
    finally:
        store.close()


def test_a_glob_search_over_a_large_tenant_is_cut_at_the_timeout(tmp_path):
    store = SqliteStore(tmp_path / "s.db", statement_timeout_s=0.05)
    try:
        store.write_documents(_docs(1500))
        store.warm()
        filters = {"access": Access(tenant="evil"), "source": _costly(1)}
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=r"\[store\] statement_timeout_s"):
            store.keyword_search("note", 5, filters)
        assert time.monotonic() - started < 1.0
        unbounded = SqliteStore(tmp_path / "s.db", statement_timeout_s=0)
        try:
            started = time.monotonic()
            assert unbounded.keyword_search("note", 5, {**filters, "source": _costly(2)}) == []
            full = time.monotonic() - started
        finally:
            unbounded.close()
        assert full > 0.1, full  # the same search, uncut, is longer than the bound (~0.8 s here)
        assert store.keyword_search("note", 5, {"access": Access(tenant="evil"), "source": "/srv/*9"})
    finally:
        store.close()


def test_writes_and_index_rebuilds_longer_than_the_timeout_are_not_cut(tmp_path):
    store = SqliteStore(tmp_path / "s.db", statement_timeout_s=0.02)
    try:
        started = time.monotonic()
        store.write_documents(_docs(400, chunks=5))
        wrote = time.monotonic() - started
        assert wrote > 0.02, wrote
        assert store.count_documents() == 400
        started = time.monotonic()
        with store._lock, store._transaction(stamp=False):  # a statement of the writer's, as long as any
            store._conn.execute(SLOW_READ.replace("30000000", "3000000")).fetchall()
        assert time.monotonic() - started > 0.02
        store.write_documents([document("late", ["late note"], tenant="evil")])  # the rebuild is due
        store.warm()  # rebuilds BM25 and the dense index from whole-table reads on the writer
        assert store.indexes_current()
        assert [cid for cid, _ in store.keyword_search("late", 1)] == ["late#0"]
    finally:
        store.close()


def test_zero_turns_it_off_a_negative_is_refused_and_the_setting_reaches_the_store(tmp_path):
    store = SqliteStore(tmp_path / "s.db", statement_timeout_s=0)
    try:
        assert store._all(SLOW_READ.replace("30000000", "2000000")) == [(2000000,)]
    finally:
        store.close()
    with pytest.raises(ValueError, match="statement_timeout_s"):
        SqliteStore(tmp_path / "t.db", statement_timeout_s=-1)
    opened = open_store(f"sqlite:///{tmp_path / 'u.db'}", statement_timeout_s=0.7)
    default = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    try:
        assert opened.statement_timeout_s == 0.7  # type: ignore[attr-defined]
        assert default.statement_timeout_s == STATEMENT_TIMEOUT_S == 5.0  # type: ignore[attr-defined]
    finally:
        opened.close()
        default.close()


def test_learnings_read_of_every_vector_is_not_cut(tmp_path):
    """chunk_vectors reads every stored vector for `ragwright learn`: a batch read, as on PostgreSQL
    (8e5c2b4), not a request's; under the timeout a large store could never learn."""
    import numpy as np

    store = SqliteStore(tmp_path / "s.db", statement_timeout_s=0.0005)
    try:
        vectors = np.random.default_rng(0).standard_normal((20_000, 8)).astype(np.float32)
        store.write_documents(
            [
                document(f"d{i}", [f"t{j}" for j in range(500)], vectors=vectors[i * 500 : (i + 1) * 500])
                for i in range(40)
            ]
        )
        with pytest.raises(StoreUnavailable, match="statement timeout"):  # a request's read of the same rows
            store._all("SELECT c.chunk_id, v.vector FROM chunks c JOIN vectors v ON v.chunk_rowid = c.rowid")
        ids, matrix = store.chunk_vectors()
        assert len(ids) == 20_000 and np.allclose(matrix, vectors)
    finally:
        store.close()
