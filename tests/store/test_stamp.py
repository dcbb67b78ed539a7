"""What a store keeps between reads (meta, API keys, chunk rows) goes as soon as any process writes."""

import os
import sqlite3

from ragwright import TextRecord
from ragwright.store import SqliteStore
from ragwright.store.stamp import WriteStamp


def _count_reads(store: SqliteStore) -> list[str]:
    seen: list[str] = []
    conn = store._reader()
    conn.set_trace_callback(seen.append)
    return seen


def test_a_revocation_by_another_store_is_seen_by_the_next_lookup(tmp_path):
    server, cli = SqliteStore(tmp_path / "s.db"), SqliteStore(tmp_path / "s.db")  # two processes' stores
    try:
        cli.add_api_key("k_1", "hash1", "acme", ["read"], [])
        assert server.api_key_by_hash("hash1")["revoked_at"] is None and server.get_meta("generation") == "0"
        reads = _count_reads(server)
        assert server.api_key_by_hash("hash1")["revoked_at"] is None
        assert server.get_meta("generation") == server.get_meta("generation")
        assert not [r for r in reads if "api_keys" in r or "meta" in r]  # kept: no SQL at all
        cli.revoke_api_key("k_1")
        assert server.api_key_by_hash("hash1")["revoked_at"] is not None
        assert server.api_key_by_hash("nope") is None
        cli.add_api_key("k_2", "nope", "acme", ["read"], [])
        assert server.api_key_by_hash("nope")["key_id"] == "k_2"  # an unknown key is not remembered as unknown
    finally:
        server.close()
        cli.close()


def test_trace_batches_do_not_throw_away_what_readers_keep(workspace):
    store = workspace.store
    workspace.ingest_records([TextRecord("a", "Apples grow on trees.")])
    before = store._kept.stamp.read()
    workspace.search("apples", 1)  # writes a trace
    store.flush_traces()
    assert store._kept.stamp.read() == before
    workspace.ingest_records([TextRecord("b", "Bananas grow in bunches.")])
    assert store._kept.stamp.read() != before


def test_deleted_chunks_are_not_served_from_kept_rows(workspace):
    workspace.ingest_records([TextRecord("a", "Apples grow on trees."), TextRecord("b", "Bananas are yellow.")])
    hit = workspace.search("apples", 1)[0]
    assert hit.chunk_id in workspace.store.get_chunks([hit.chunk_id])
    workspace.delete(hit.doc_id)
    assert workspace.store.get_chunks([hit.chunk_id]) == {}
    assert all(r.doc_id != hit.doc_id for r in workspace.search("apples", 5))


def test_without_a_writable_stamp_nothing_is_kept(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    other = SqliteStore(tmp_path / "s.db")
    try:
        store._kept.stamp.close()  # as in a read-only directory
        assert store._kept.stamp.read() is None
        other.set_meta("x", "1")
        assert store.get_meta("x") == "1"
        with sqlite3.connect(tmp_path / "s.db") as raw:  # a write that bumps nothing
            raw.execute("UPDATE meta SET value = '2' WHERE key = 'x'")
        assert store.get_meta("x") == "2"
    finally:
        store.close()
        other.close()


def test_stamp_is_created_and_changes_on_every_bump(tmp_path):
    stamp = WriteStamp(tmp_path / "s.db")
    first = stamp.read()
    assert first is not None and len(first) == WriteStamp.SIZE and os.path.getsize(stamp.path) == WriteStamp.SIZE
    stamp.bump()
    assert stamp.read() not in (None, first)
    again = WriteStamp(tmp_path / "s.db")  # another process opening it keeps the current value
    assert again.read() == stamp.read()
    stamp.close()
    again.close()


def test_a_writer_that_did_not_bump_is_seen_within_max_age(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    try:
        store.set_meta("x", "1")
        assert store.get_meta("x") == "1"
        with sqlite3.connect(tmp_path / "s.db") as raw:  # killed before its bump, or an older writer
            raw.execute("UPDATE meta SET value = '2' WHERE key = 'x'")
        assert store.get_meta("x") == "1"  # kept: the stamp did not change ...
        store._kept.max_age_s = 0.05
        store._kept._kept = (store._kept._kept[0], 0.0, store._kept._kept[2])  # ... and now it is too old
        assert store.get_meta("x") == "2"
    finally:
        store.close()


def test_a_stamp_that_cannot_be_opened_only_turns_keeping_off(tmp_path):
    (tmp_path / "s.db-stamp").mkdir()  # EISDIR, as EACCES would be for another user's file
    store = SqliteStore(tmp_path / "s.db")
    try:
        assert store._kept.stamp.read() is None
        store.set_meta("x", "1")
        assert store.get_meta("x") == "1"
    finally:
        store.close()


def test_unknown_keys_are_not_kept(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    try:
        for i in range(50):
            assert store.api_key_by_hash(f"made-up-{i}") is None
        assert not [k for k in store._kept._kept[2] if k.startswith("key:")]
    finally:
        store.close()
