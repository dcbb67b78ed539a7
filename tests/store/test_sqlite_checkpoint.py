"""A deletion's WAL checkpoint while another connection reads (store/sqlite_checkpoint.py).

Attack (review 12, k_wal_reader.py): another process (a second `serve --workers` worker, a CLI
command, a backup) held a read snapshot while a document was deleted. PRAGMA
wal_checkpoint(TRUNCATE) then waited the connection's whole busy timeout (30 s, the DELETE
request with it), reported busy without raising, and nothing tried again: the deleted text stayed
in ragwright.db-wal after the reader let go, through later asks and writes, until the store closed."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from ragwright.store.sqlite import SqliteStore

from .contract.backends import document

SECRET = "pangolin-8890-vault"


def _holding(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("s.db*") if p.is_file() and SECRET.encode() in p.read_bytes())


def _reader(path: Path) -> sqlite3.Connection:
    """Another process's connection in the middle of a read: its snapshot pins the WAL."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN")
    other.execute("SELECT count(*) FROM documents").fetchone()
    return other


def test_a_deletion_under_a_reader_returns_soon_and_its_text_leaves_the_wal_once_the_reader_goes(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    store.write_documents([document("keep", ["Lunch is at noon."]), document("gone", [f"The code is {SECRET}."])])
    assert _holding(tmp_path) == ["s.db-wal"]  # the attack's premise: the text is in the WAL
    other = _reader(tmp_path / "s.db")
    started = time.monotonic()
    assert store.delete_document("gone") is True
    assert time.monotonic() - started < 3, "the deletion waited for the reader"
    other.execute("COMMIT")  # the reader finishes; the store is not called again
    deadline = time.monotonic() + 10
    while _holding(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert _holding(tmp_path) == [], "the deleted text stayed in the WAL after the reader let go"
    finally:
        other.close()
        store.close()


def test_writes_go_on_while_a_reader_never_lets_go_and_close_does_not_hang(tmp_path):
    """The pending checkpoint is retried in the background without holding writers up."""
    store = SqliteStore(tmp_path / "s.db")
    store.write_documents([document("gone", [f"The code is {SECRET}."])])
    other = _reader(tmp_path / "s.db")
    try:
        store.delete_document("gone")
        for n in range(10):
            started = time.monotonic()
            store.write_documents([document(f"d{n}", [f"Note {n}."])])
            store.cache_put("exact", f"k{n}", "v")
            assert time.monotonic() - started < 2, "a write waited for the pending checkpoint"
            time.sleep(0.1)
        assert store.count_documents() == 10
        started = time.monotonic()
        store.close()
        assert time.monotonic() - started < 10
    finally:
        other.close()


def test_a_checkpoint_nothing_holds_up_truncates_the_wal_at_once(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    store.write_documents([document("gone", [f"The code is {SECRET}."])])
    store.delete_document("gone")
    assert _holding(tmp_path) == [] and (tmp_path / "s.db-wal").stat().st_size == 0
    store.close()
