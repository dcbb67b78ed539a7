"""The audit writer keeps what it could not write and tries again: it retried a failed batch once,
and a second failure killed its thread, so the server went on without an audit log, silently."""

from __future__ import annotations

import logging
import time

from ragwright.server.audit import AuditWriter
from ragwright.store import SqliteStore


class FlakyStore:
    """The real store behind a disk that fails the first `failures` writes (a full disk, a lock)."""

    def __init__(self, store: SqliteStore, failures: int) -> None:
        self.store, self.failures = store, failures

    def write_audit(self, entries):
        if self.failures:
            self.failures -= 1
            raise OSError("database or disk is full")
        return self.store.write_audit(entries)

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_entries_survive_failed_writes_and_are_written_once_the_store_recovers(tmp_path, caplog):
    store = SqliteStore(tmp_path / "ragwright.db")
    flaky = FlakyStore(store, failures=4)
    with caplog.at_level(logging.WARNING, logger="ragwright.server.audit"):
        writer = AuditWriter(flaky)
        writer.add((time.time(), "k_1", "acme", "POST", "/v1/search", 200, ["d1"], 2.0, "/v1/search", "10.0.0.1", 1))
        deadline = time.monotonic() + 15
        while not store.list_audit(10) and time.monotonic() < deadline:
            time.sleep(0.05)
        writer.add((time.time(), "k_1", "acme", "GET", "/v1/documents", 200, [], 1.0, "/v1/documents", "10.0.0.1", 1))
        writer.close()
    rows = store.list_audit(10)
    store.close()
    assert [r["endpoint"] for r in rows] == ["/v1/documents", "/v1/search"]  # both, once each
    assert "entries not written (failure 4)" in caplog.text and "writing again after 4 failures" in caplog.text
