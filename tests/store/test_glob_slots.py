"""One tenant's `source`-pattern reads hold at most GLOB_SLOTS_PER_TENANT of the process's
GLOB_SLOTS (store/glob_slots.py): before, one key sending three slow pattern searches held every
slot, and every other tenant's pattern read was refused "busy" until they ended."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ragwright.errors import StoreUnavailable
from ragwright.store import SqliteStore, glob_slots
from tests.store.contract.backends import document

PATTERN = ["/docs/*.md"]


@pytest.fixture
def store(tmp_path):
    s = SqliteStore(tmp_path / "rw.db")
    s.write_documents(
        [document(f"{t}{i}", [f"note {i}"], tenant=t, source=f"/docs/{t}{i}.md") for t in "ab" for i in range(3)]
    )
    yield s
    s.close()


def test_a_tenant_holding_its_share_leaves_a_slot_for_another(store):
    for _ in range(glob_slots.GLOB_SLOTS_PER_TENANT):
        glob_slots._acquire("a")
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="busy: 2 for this tenant"):
            store.keyword_search("note", 5, {"tenant": "a", "source": PATTERN})
        assert time.monotonic() - started < 2.0
        hits = store.keyword_search("note", 5, {"tenant": "b", "source": PATTERN})  # tenant b still reads
        assert sorted(hits) == sorted(store.keyword_search("note", 5, {"tenant": "b"}))
        assert len(hits) == 3
    finally:
        for _ in range(glob_slots.GLOB_SLOTS_PER_TENANT):
            glob_slots._release("a")


def test_every_slot_held_refuses_any_tenant_then_frees(store):
    held = ["a", "a", "b"]
    for tenant in held:
        glob_slots._acquire(tenant)
    query = np.ones(8, dtype=np.float32)
    try:
        with pytest.raises(StoreUnavailable, match="busy: 3 searches"):
            store.vector_search(query, 3, {"tenant": "c", "source": PATTERN})
        freed = threading.Timer(0.05, glob_slots._release, args=("b",))
        freed.start()  # a slot freed while a read waits: the read takes it
        assert len(store.vector_search(query, 3, {"tenant": "c", "source": PATTERN})) == 0
        held.remove("b")
    finally:
        for tenant in held:
            glob_slots._release(tenant)
    assert glob_slots._held == {}
