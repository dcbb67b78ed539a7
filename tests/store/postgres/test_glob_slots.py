"""On PostgreSQL too, reads that match `source` patterns take one of the process's few glob slots
(store/glob_slots.py, 9edce6b: SQLite's search code only): an ask or MCP call with a costly pattern
held a pooled connection (10 in all) for up to the statement timeout, as many as came at once."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ragwright.errors import StoreUnavailable
from ragwright.store import glob_slots
from ragwright.store.postgres.store import PostgresStore
from tests.store.contract.backends import document
from tests.stores import fresh_database


@pytest.fixture
def store(postgres_url):
    with fresh_database(postgres_url) as url:
        s = PostgresStore(url)
        yield s
        s.close()


def test_pattern_reads_wait_for_a_slot_and_plain_ones_do_not(store):
    store.write_documents([document(f"d{i}", [f"note {i}"], source=f"/docs/n{i}.md") for i in range(5)])
    query = np.ones(8, dtype=np.float32)
    held = ["a", "a", "b"][: glob_slots.GLOB_SLOTS]  # other tenants' reads hold every slot
    for tenant in held:
        glob_slots._acquire(tenant, wait_s=1)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="busy"):
            store.vector_search(query, 3, {"source": ["/docs/*.md"]})
        assert time.monotonic() - started < 2.0  # refused after a short wait, not held
        with pytest.raises(StoreUnavailable, match="busy"):
            store.keyword_search("note", 3, {"source": ["/docs/n[12].md"]})
        assert len(store.vector_search(query, 3, {"source": ["/docs/n1.md"]})) == 1  # a plain source: no slot
    finally:
        for tenant in held:
            glob_slots._release(tenant)
    assert len(store.vector_search(query, 3, {"source": ["/docs/*.md"]})) == 3  # slots free again
