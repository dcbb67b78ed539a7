"""What is particular to the PostgreSQL store, beyond the contract suite: the HNSW index comes in
bulk past ann_threshold and answers (filtered queries too), the keyword index catches up from the
database rather than being rebuilt, the vector dimension is fixed by the first write, processes
starting together migrate once, and a pool with no free connection fails fast."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ragwright.errors import StoreError
from ragwright.store.postgres.schema import LATEST
from ragwright.types import Access
from tests.store.contract.backends import PostgresBackend, document


@pytest.fixture
def backend(postgres_url):
    PostgresBackend.make_template(postgres_url)
    made = PostgresBackend(postgres_url)
    yield made
    made.close()


def _unit(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_the_hnsw_index_comes_past_the_threshold_and_answers(backend):
    rng = np.random.default_rng(3)
    store = backend.open(ann_threshold=60)
    vectors = _unit(rng, 150)
    store.write_documents([document(f"d{i}", ["x"], vectors=vectors[i : i + 1]) for i in range(50)])
    assert backend._query("SELECT to_regclass('vectors_hnsw')") == [(None,)]  # 50: exact scans need none
    store.write_documents(
        [
            document(f"d{i}", ["x"], vectors=vectors[i : i + 1], tenant="t2" if i % 3 else "default")
            for i in range(50, 150)
        ]
    )
    assert backend._query("SELECT to_regclass('vectors_hnsw')::text") == [("vectors_hnsw",)]
    searcher = store._search
    for filters in (None, {"access": Access("t2")}):  # 150 and 67 candidates, past 60
        plan = searcher.dense_plan(vectors[0], 5, filters)
        assert plan.hnsw and "Index Scan using vectors_hnsw" in searcher.explain(plan), filters
    exact = searcher.dense_plan(vectors[0], 5, {"doc_id": ["d1", "d2"]})
    assert not exact.hnsw and "vectors_hnsw" not in searcher.explain(exact)
    assert [c for c, _ in store.vector_search(vectors[140], 1)] == ["d140#0"]


def test_the_keyword_index_catches_up_instead_of_rebuilding(backend):
    writer, reader = backend.open(), backend.open()
    writer.write_documents([document(f"d{i}", [f"common words and token{i}"]) for i in range(20)])
    assert len(reader.keyword_search("common", 50)) == 20
    for step in range(5):
        writer.write_documents([document(f"n{step}", [f"common fresh{step}"])])
        writer.delete_document(f"d{step}")
        assert [c for c, _ in reader.keyword_search(f"fresh{step}", 5)] == [f"n{step}#0"]
        assert reader.keyword_search(f"token{step}", 5) == []
        assert len(reader.keyword_search("common", 50)) == 20
    assert (reader._search.rebuilds, reader._search.refreshes) == (1, 5)
    # A reader whose generation predates the trimmed end of the removed-rows log cannot catch
    # up: it reads the index whole again.
    generation = int(writer.get_meta("generation"))
    writer.set_meta("removed_floor", str(generation + 1))
    writer.write_documents([document("late", ["common late"])])
    assert [c for c, _ in reader.keyword_search("late", 5)] == ["late#0"]
    assert reader._search.rebuilds == 2
    writer.set_meta("removed_floor", "0")


def test_the_first_vectors_fix_the_dimension(backend):
    store = backend.open()
    store.write_documents([document("a", ["eight dims"], dim=8)])
    with pytest.raises(StoreError, match="dimension 16, but the store holds dimension 8"):
        store.write_documents([document("b", ["ok"], dim=8), document("c", ["sixteen dims"], dim=16)])
    assert store.get_document("b") is None and store.stats()["vectors"] == 1


def test_processes_opening_a_new_database_together_migrate_once(backend):
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            backend.open()
        except BaseException as exc:  # noqa: BLE001  collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert backend._query("SELECT version FROM schema_version ORDER BY version") == [(v,) for v in range(1, LATEST + 1)]


def test_a_pool_with_no_free_connection_fails_fast(backend):
    store = backend.open(pool_max=1, timeout_s=0.5)
    store.write_documents([document("a", ["held"])])
    with store.db.read(), pytest.raises(StoreError, match=r"no free connection within 0\.5 s"):  # the only one, held
        store.get_document("a")
    assert store.get_document("a") is not None


def test_a_database_of_schema_version_1_is_migrated_keeping_its_documents(backend, monkeypatch):
    """Version 2 (traces, keys, jobs, budgets, ...) comes over a database written at version 1."""
    from ragwright.store.postgres import schema

    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
    monkeypatch.setattr(schema, "LATEST", 1)
    old = backend.open()
    old.write_documents([document("a", ["kept across the upgrade"])])
    backend.close_store(old)
    monkeypatch.undo()
    assert backend._query("SELECT max(version) FROM schema_version") == [(1,)]
    assert backend._query("SELECT to_regclass('jobs')") == [(None,)]
    store = backend.open()
    assert backend._query("SELECT max(version) FROM schema_version") == [(LATEST,)]
    assert [c for c, _ in store.keyword_search("upgrade", 5)] == ["a#0"]
    store.add_job("j1", "ingest", "default", None, {"paths": []})
    assert store.claim_job("w")["job_id"] == "j1"
    store.delete_document("a")  # the deletion's cascade reaches the new tables
    assert store.get_document("a") is None
