"""Learning reads every stored vector in one statement: an admin's batch read, which the statement
timeout that bounds a request's reads ([store] statement_timeout_s, review 15) must not cut."""

from __future__ import annotations

import numpy as np
import pytest

from ragwright.errors import StoreUnavailable
from ragwright.store.postgres.store import PostgresStore
from tests.store.contract.backends import document
from tests.stores import fresh_database

CHUNKS = 20_000


@pytest.fixture
def url(postgres_url):
    with fresh_database(postgres_url) as made:
        yield made


def test_chunk_vectors_is_not_cut_by_the_statement_timeout(url):
    store = PostgresStore(url, statement_timeout_s=0.001)
    try:
        vectors = np.random.default_rng(0).standard_normal((CHUNKS, 8)).astype(np.float32)
        per_doc = 500
        store.write_documents(
            [
                document(
                    f"d{i}", [f"text {j}" for j in range(per_doc)], vectors=vectors[i * per_doc : (i + 1) * per_doc]
                )
                for i in range(CHUNKS // per_doc)
            ]
        )
        with pytest.raises(StoreUnavailable, match="statement timeout"):  # a request's read of the same rows
            store._all("SELECT c.chunk_id, v.embedding FROM chunks c JOIN vectors v ON v.chunk_rowid = c.rowid")
        ids, matrix = store.chunk_vectors()  # was cut the same way
        assert len(ids) == CHUNKS and np.allclose(matrix, vectors, atol=1e-6)
    finally:
        store.close()
