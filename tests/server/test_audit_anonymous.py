"""Requests without a valid key, after review 15b: one address with 26 HTTP methods made 102 rows a
minute (~40 MB a day per process, kept for good). Now unknown methods are one group, an address
has a share of a minute's groups, a path that matched no route keeps its first 64 characters, and
such rows are kept 30 days whatever [observe] audit_retention_days says of keyed rows."""

from __future__ import annotations

import time

from ragwright.server.audit import ANONYMOUS_RETENTION_DAYS, UNMATCHED, AuditWriter
from ragwright.store import SqliteStore

METHODS = ["PROPFIND", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH", "PURGE", "LINK"]


def anonymous(at: float, method: str, path: str, route: str, client: str = "198.51.100.7") -> tuple:
    return (at, None, None, method, path, 404, [], 1.0, route, client, 1)


def test_one_address_cannot_make_more_than_its_share_of_rows(tmp_path):
    store = SqliteStore(tmp_path / "ragwright.db")
    writer = AuditWriter(store)
    minute = (time.time() // 60 - 2) * 60  # a minute that is over
    for i, method in enumerate(METHODS * 3):
        writer.add(anonymous(minute + 1, method, f"/probe/{i}", UNMATCHED))
    for i in range(40):  # 40 routes from one address
        writer.add(anonymous(minute + 2, "GET", f"/v1/x{i}", f"/v1/x{i}"))
    writer.add(anonymous(minute + 3, "GET", "/" + "a" * 300, UNMATCHED, client="203.0.113.1"))
    writer.close()
    rows = store.list_audit(limit=1000)
    store.close()
    mine = [r for r in rows if r["client"] == "198.51.100.7"]
    assert sum(r["count"] for r in mine) == 70  # every request counted
    assert len(mine) <= 2 * AuditWriter.ANON_GROUPS_PER_ADDRESS + 1  # was 2 rows a method and a route: ~100
    assert {r["method"] for r in mine} <= {"OTHER", "GET", "*"}
    (other,) = [r for r in rows if r["client"] == "203.0.113.1"]
    assert len(other["endpoint"]) <= 64 + 3  # an unmatched path's first 64 characters (and "...")


def test_rows_without_a_key_expire_after_30_days_keyed_rows_are_kept(tmp_path):
    store = SqliteStore(tmp_path / "ragwright.db")
    old = time.time() - (ANONYMOUS_RETENTION_DAYS + 1) * 86400
    store.write_audit(
        [
            (old, "k_1", "acme", "GET", "/v1/documents", 200, [], 1.0, "/v1/documents", "10.0.0.1", 1),
            (old, None, None, "GET", "/admin", 404, [], 1.0, UNMATCHED, "198.51.100.7", 5),
            (time.time() - 86400, None, None, "GET", "/wp-login.php", 404, [], 1.0, UNMATCHED, "198.51.100.7", 1),
        ]
    )
    AuditWriter(store).close()  # audit_retention_days 0: keyed rows kept for good
    rows = store.list_audit(limit=10)
    store.close()
    assert sorted((r["key_id"] or "-", r["endpoint"]) for r in rows) == [
        ("-", "/wp-login.php"),
        ("k_1", "/v1/documents"),
    ]
