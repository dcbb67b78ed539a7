"""The audit log's bounds, on every backend (store/contract/access.py AuditStore): texts a caller
chose are stored clipped, a folded row keeps its route, address and count, and the retention
deletes rows older than a time and nothing newer (review 15, finding 2)."""

from __future__ import annotations

import time


def test_texts_are_clipped_and_folded_rows_keep_route_client_and_count(store):
    store.write_audit(
        [
            (1.0, "k1", "acme", "GET", "/v1/documents/d1", 200, ["d1"], 2.0),  # 8 fields: as before
            (2.0, None, None, "G" * 1000, "/v1/x" + "A" * 65_000, 404, [], 1.5, "(no route)", "10.0.0.7", 300),
            (3.0, None, None, "GET", "/v1/\x1b[2J" + "é" * 300, 401, [], 1.0, "/v1/search", "c" * 500, 2),
        ]
    )
    third, second, first = store.list_audit()
    assert first == {
        "at": 1.0,
        "key_id": "k1",
        "tenant": "acme",
        "method": "GET",
        "endpoint": "/v1/documents/d1",
        "status": 200,
        "doc_ids": ["d1"],
        "latency_ms": 2.0,
        "route": "",
        "client": None,
        "count": 1,
    }
    assert (second["route"], second["client"], second["count"], second["status"]) == (
        "(no route)",
        "10.0.0.7",
        300,
        404,
    )
    assert len(second["endpoint"]) == 256 and second["endpoint"].endswith("...") and len(second["method"]) == 16
    assert third["endpoint"].startswith("/v1/\\x1b[2Jéé") and len(third["endpoint"]) == 256
    assert len(third["client"]) == 64 and third["count"] == 2


def test_retention_deletes_rows_older_than_the_time_given(backend):
    a, b = backend.open(), backend.open()
    now = time.time()
    a.write_audit([(now - d * 86400, "k", "acme", "GET", f"/v1/d{d}", 200, [], 1.0) for d in (400, 31, 29, 0)])
    assert b.delete_audit_before(now - 30 * 86400) == 2
    assert [r["endpoint"] for r in a.list_audit()] == ["/v1/d0", "/v1/d29"]  # committed: the other sees it
    assert b.delete_audit_before(now - 30 * 86400) == 0


def test_retention_of_rows_without_a_key_keeps_keyed_rows(backend):
    a = backend.open()
    old = time.time() - 40 * 86400
    a.write_audit(
        [
            (old, "k", "acme", "GET", "/v1/keyed", 200, [], 1.0),
            (old, None, None, "GET", "/probe", 401, [], 1.0, "(no route)", "10.0.0.9", 3),
        ]
    )
    assert a.delete_audit_before(old + 1, without_key=True) == 1
    assert [r["endpoint"] for r in a.list_audit()] == ["/v1/keyed"]
