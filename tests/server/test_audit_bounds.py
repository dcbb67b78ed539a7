"""The audit log cannot be filled by a caller without a key (review 15, finding 2: 300 anonymous
requests with 65 KB paths grew ragwright.db by 27 MB in 1.7 s, and nothing deleted them). A row
names the matched route's template and the path clipped to 256 characters; requests without a
valid key are grouped per minute, address, method, route and status: a group's first request is
a row at once, the rest one row with their count when the minute is over, at most
AuditWriter.ANON_GROUPS_PER_MINUTE groups a minute; [observe] audit_retention_days deletes old
rows when the server starts. A request with a key is still one row: who, what, when."""

import time
from collections import Counter

from fastapi.testclient import TestClient

from ragwright import Settings, TextRecord, Workspace
from ragwright.config import ObserveSettings
from ragwright.server import create_app
from ragwright.server.audit import OTHERS, UNMATCHED, AuditWriter
from ragwright.server.auth import create_key


def db_bytes(ws: Workspace) -> int:
    return sum(p.stat().st_size for p in ws.settings.data_dir.glob("ragwright.db*"))


def workspace(tmp_path, embedder, **observe) -> Workspace:
    settings = Settings(data_dir=tmp_path / "d", observe=ObserveSettings(**observe))
    return Workspace(settings=settings, embedder=embedder)


def test_anonymous_requests_with_huge_paths_grow_the_database_by_a_bounded_amount(tmp_path, embedder):
    ws = workspace(tmp_path, embedder)
    ws.ingest_records([TextRecord(id="h", text="Holidays: 25 days a year.", title="Handbook")])
    key = {"Authorization": f"Bearer {create_key(ws.store, 'default', ['read'])['key']}"}
    with TestClient(create_app(workspace=ws)) as client:
        assert client.get("/v1/documents", headers=key).status_code == 200  # the store warm, its first writes done
        time.sleep(0.5)
        before = db_bytes(ws)
        replies = [client.get("/v1/x" + "A" * 60_000 + str(i)) for i in range(100)]  # the review's attack
        replies += [client.get("/v1/documents/" + "B" * 60_000 + str(i)) for i in range(50)]  # a route, no key
        replies += [client.get("/v1/documents", headers={"Authorization": f"Bearer rw_bad{i}"}) for i in range(50)]
    grown = db_bytes(ws) - before  # the app stopped: every folded row is written
    rows = ws.store.list_audit(limit=1000)
    ws.close()
    assert [r.status_code for r in replies] == [404] * 100 + [401] * 100
    assert grown < 100_000, grown  # was 6 MB for the first 100 alone
    anonymous = [r for r in rows if r["key_id"] is None]
    counted: Counter = Counter()
    for row in anonymous:
        counted[row["route"], row["status"]] += row["count"]
    assert counted == {(UNMATCHED, 404): 100, ("/v1/documents/{doc_id}", 401): 50, ("/v1/documents", 401): 50}
    # per group its first request, then one row counting the rest (twice if a minute ended); the warm-up's
    assert len(anonymous) <= 12 and len(rows) - len(anonymous) == 1
    assert sorted(r["count"] for r in anonymous)[:3] == [1, 1, 1]
    for row in anonymous:
        assert len(row["endpoint"]) <= 256 and row["client"] == "testclient" and row["method"] == "GET"
        assert row["tenant"] is None and row["at"] > time.time() - 120
    unmatched = next(r for r in anonymous if r["route"] == UNMATCHED)
    assert unmatched["endpoint"].startswith("/v1/xAAAA") and unmatched["endpoint"].endswith("...")


def test_a_failed_attempt_is_seen_at_once_and_the_rest_of_its_minute_counted(tmp_path, embedder):
    ws = workspace(tmp_path, embedder)
    with TestClient(create_app(workspace=ws)) as client:
        first = client.get("/v1/documents", headers={"Authorization": "Bearer rw_guess0"})
        time.sleep(0.3)  # the writer's batch
        seen = ws.store.list_audit(limit=10)
        more = [client.get("/v1/documents", headers={"Authorization": f"Bearer rw_guess{i}"}) for i in range(1, 40)]
        time.sleep(0.3)
        unchanged = ws.store.list_audit(limit=10)
    rows = ws.store.list_audit(limit=10)
    ws.close()
    assert first.status_code == 401 and {r.status_code for r in more} == {401}
    assert [(r["key_id"], r["route"], r["status"], r["count"], r["client"]) for r in seen] == [
        (None, "/v1/documents", 401, 1, "testclient")
    ]
    if len(unchanged) == 1:  # (unless a minute ended meanwhile) the rest waits for its minute's end
        assert unchanged == seen
    assert sum(r["count"] for r in rows) == 40 and len(rows) <= 3


def test_a_keyed_request_is_one_row_with_its_route_template_and_the_path_clipped(tmp_path, embedder):
    ws = workspace(tmp_path, embedder)
    ws.ingest_records([TextRecord(id="h", text="Holidays: 25 days a year.", title="Handbook")])
    made = create_key(ws.store, "default", ["read"])
    key = {"Authorization": f"Bearer {made['key']}"}
    started = time.time()
    with TestClient(create_app(workspace=ws)) as client:
        search = client.post("/v1/search", json={"query": "holidays", "k": 3}, headers=key)
        fetched = client.get("/v1/documents/h", headers=key)
        long_id = client.get("/v1/documents/" + "z" * 1000, headers=key)
        escape = client.get("/v1/documents/%1b%5b31mred", headers=key)
        twice = [client.get("/v1/documents/h", headers=key) for _ in range(2)]
    rows = ws.store.list_audit(limit=100)[::-1]  # oldest first
    ws.close()
    assert [r.status_code for r in (search, fetched, long_id, escape, *twice)] == [200, 200, 404, 404, 200, 200]
    assert len(rows) == 6  # one row each, none folded
    assert all(r["key_id"] == made["id"] and r["tenant"] == "default" and r["count"] == 1 for r in rows)
    assert all(started <= r["at"] <= time.time() and r["client"] == "testclient" for r in rows)
    assert (rows[0]["method"], rows[0]["endpoint"], rows[0]["route"], rows[0]["status"]) == (
        "POST",
        "/v1/search",
        "/v1/search",
        200,
    )
    assert rows[0]["doc_ids"] == ["h"]
    assert (rows[1]["endpoint"], rows[1]["route"], rows[1]["doc_ids"]) == (
        "/v1/documents/h",
        "/v1/documents/{doc_id}",
        ["h"],
    )
    assert rows[2]["route"] == "/v1/documents/{doc_id}" and len(rows[2]["endpoint"]) == 256
    assert rows[2]["endpoint"] == "/v1/documents/" + "z" * (256 - 3 - len("/v1/documents/")) + "..."
    assert rows[3]["endpoint"] == "/v1/documents/\\x1b[31mred"  # no terminal escape reaches `ragwright audit`


def test_a_form_encoded_body_still_names_its_route(tmp_path, embedder):
    """JsonBodies passes a copy of the scope on for a urlencoded body (curl -d): the router's route
    is set on the copy, so the middleware matches the routes itself."""
    ws = workspace(tmp_path, embedder)
    key = {"Authorization": f"Bearer {create_key(ws.store, 'default', ['read'])['key']}"}
    with TestClient(create_app(workspace=ws)) as client:
        reply = client.post(
            "/v1/search",
            content=b'{"query": "x"}',
            headers={**key, "Content-Type": "application/x-www-form-urlencoded"},
        )
    rows = ws.store.list_audit(limit=10)
    ws.close()
    assert reply.status_code == 200, reply.text
    assert [(r["endpoint"], r["route"]) for r in rows] == [("/v1/search", "/v1/search")]


def test_anonymous_rows_are_capped_per_minute_and_the_rest_counted(tmp_path, embedder):
    ws = workspace(tmp_path, embedder)
    writer = AuditWriter(ws.store)
    minute = (time.time() // 60 - 2) * 60  # a minute that is over
    for i in range(300):  # 300 addresses: more than the cap
        writer.add((minute + 1, None, None, "GET", f"/v1/x{i}", 401, [], 1.0, "/v1/x", f"10.0.{i // 250}.{i % 250}", 1))
    writer.add((minute + 61, None, None, "GET", "/v1/y", 404, [], 3.0, UNMATCHED, "10.9.9.9", 1))  # the next minute
    writer.close()
    rows = ws.store.list_audit(limit=1000)
    ws.close()
    first = [r for r in rows if r["at"] < minute + 60]
    assert len(first) == AuditWriter.ANON_GROUPS_PER_MINUTE + 1
    assert sum(r["count"] for r in first) == 300
    others = [r for r in first if r["client"] == OTHERS]
    assert len(others) == 1 and others[0]["count"] == 300 - AuditWriter.ANON_GROUPS_PER_MINUTE
    later = [r for r in rows if r["at"] >= minute + 60]
    assert [(r["endpoint"], r["count"], r["latency_ms"]) for r in later] == [("/v1/y", 1, 3.0)]


def test_retention_deletes_old_rows_when_the_server_starts(tmp_path, embedder):
    ws = workspace(tmp_path, embedder, audit_retention_days=7)
    now = time.time()
    ws.store.write_audit(
        [
            (now - 30 * 86400, "k_old", "default", "GET", "/v1/documents", 200, [], 1.0),
            (now - 86400, "k_new", "default", "GET", "/v1/documents", 200, [], 1.0),
        ]
    )
    key = {"Authorization": f"Bearer {create_key(ws.store, 'default', ['read'])['key']}"}
    with TestClient(create_app(workspace=ws)) as client:
        assert client.get("/v1/documents", headers=key).status_code == 200
        time.sleep(0.3)  # the writer's first pass: the retention
    kept = [r["key_id"] for r in ws.store.list_audit(limit=10)]
    ws.close()
    assert "k_old" not in kept and "k_new" in kept and len(kept) == 2


def test_by_default_the_audit_log_is_kept(tmp_path, embedder):
    ws = workspace(tmp_path, embedder)
    assert ws.settings.observe.audit_retention_days == 0
    ws.store.write_audit([(time.time() - 3 * 365 * 86400, "k_old", "default", "GET", "/v1/documents", 200, [], 1.0)])
    with TestClient(create_app(workspace=ws)):
        time.sleep(0.2)
    kept = [r["key_id"] for r in ws.store.list_audit(limit=10)]
    ws.close()
    assert kept == ["k_old"]
