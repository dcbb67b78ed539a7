"""MCP over streamable HTTP at /mcp on a real `ragwright serve` process, through the official
SDK's client, with the REST API's keys: each key sees over MCP what it sees over /v1."""

from __future__ import annotations

import time

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from ragwright.store.factory import open_store
from tests.mcp import checks
from tests.mcp.corpus import make_data_dir, payload, run
from tests.server.live import LiveServer

pytestmark = pytest.mark.slow
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, embedder):
    root = tmp_path_factory.mktemp("mcp-http")
    ids = make_data_dir(root, embedder)
    server = LiveServer(root / "data").start()
    yield server, ids
    server.stop()


def client(server: LiveServer, key: str | None, mode: str = "auto") -> Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60))
    return Client(streamable_http_client(server.url + "/mcp", http_client=http), mode=mode)


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # the 2026 protocol, and the initialize handshake
def test_tools_and_resources_over_http(live, mode) -> None:
    server, ids = live
    key = server.key("acme", groups="hr")

    async def body() -> None:
        async with client(server, key, mode) as c:
            await checks.tools_work(c, ids)
            await checks.bad_input_is_typed(c)
            found = payload(await c.call_tool("search", {"query": "zorblax salary band"}))
            assert found["results"][0]["doc_id"] == ids["salaries"]  # its group's document: seen

    run(body)


@pytest.mark.parametrize(
    "tenant, groups, visible",
    [("acme", "", {"vacation"}), ("acme", "sales", {"vacation"}), ("globex", "", {"globex"})],
)
def test_a_key_never_sees_another_tenants_or_another_groups_document(live, tenant, groups, visible) -> None:
    server, ids = live
    key = server.key(tenant, groups=groups)

    async def body() -> None:
        async with client(server, key) as c:
            await checks.sees_only(c, ids, visible)
            refused = payload(await c.call_tool("search", {"query": "zorblax", "filters": {"tenant": "acme"}}))
            assert refused["error"]["type"] == "invalid_request"  # the tenant comes from the key

    run(body)


def test_no_key_a_bad_key_or_a_key_without_read_gets_the_rest_apis_error(live) -> None:
    server, _ = live
    for key, status, kind in (
        (None, 401, "unauthorized"),
        ("rw_bogus_key", 401, "unauthorized"),
        (server.key("acme", scopes="write"), 403, "forbidden"),
    ):
        headers = {**MCP_HEADERS, **({"Authorization": f"Bearer {key}"} if key else {})}
        response = httpx.post(server.url + "/mcp", json=INITIALIZE, headers=headers, timeout=30)
        assert response.status_code == status, response.text
        assert response.json()["error"]["type"] == kind

    async def body() -> None:
        with pytest.raises(Exception) as refused:  # raised from the client's task groups
            async with client(server, "rw_bogus_key") as c:
                await c.list_tools()
        # the SDK reads the 401's body as the JSON-RPC error it also is, and shows why
        errors = [e for e in leaves(refused.value) if isinstance(e, MCPError)]
        assert errors and all(e.message == "unknown or revoked API key" for e in errors), errors
        assert errors[0].data == {"type": "unauthorized"}

    run(body)


def leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc, *(leaves(exc.__context__) if exc.__context__ else [])]


def test_a_revoked_key_is_refused_at_its_next_request(live) -> None:
    server, _ = live
    key = server.key("acme")
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {key}"}
    assert httpx.post(server.url + "/mcp", json=INITIALIZE, headers=headers, timeout=30).status_code == 200
    store = open_store("", default_path=server.data_dir / "ragwright.db")
    try:
        (row,) = [k for k in store.list_api_keys() if key.startswith("rw_" + k["key_id"][2:])]
        assert store.revoke_api_key(row["key_id"])
    finally:
        store.close()
    response = httpx.post(server.url + "/mcp", json=INITIALIZE, headers=headers, timeout=30)
    assert response.status_code == 401


def test_mcp_requests_are_audited_with_their_key(live) -> None:
    server, ids = live
    key = server.key("acme")

    async def body() -> None:
        async with client(server, key) as c:
            await c.call_tool("search", {"query": "paid vacation"})

    run(body)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the audit log is written in small batches, off the request's path
        store = open_store("", default_path=server.data_dir / "ragwright.db")
        try:
            rows = [r for r in store.list_audit(50, "acme") if r["endpoint"] == "/mcp"]
        finally:
            store.close()
        if any(ids["vacation"] in r["doc_ids"] for r in rows):
            break
        time.sleep(0.1)
    shown = [r for r in rows if ids["vacation"] in r["doc_ids"]]
    assert shown and shown[0]["status"] == 200 and shown[0]["key_id"]


def test_a_keys_rate_limit_holds_over_mcp(live) -> None:
    server, _ = live
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {server.key('acme', rate=2)}"}
    statuses = [httpx.post(server.url + "/mcp", json=INITIALIZE, headers=headers, timeout=30) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2].json()["error"]["type"] == "rate_limited" and int(statuses[2].headers["retry-after"]) >= 1


def test_any_worker_answers_any_request(tmp_path, embedder) -> None:
    """Stateless: a client's requests spread over `serve --workers 2` need no session in one of them."""
    ids = make_data_dir(tmp_path, embedder)
    server = LiveServer(tmp_path / "data", workers=2).start()
    try:
        key = server.key("acme")

        async def body() -> None:
            for _ in range(3):  # new connections: the supervisor hands them to either worker
                async with client(server, key) as c:
                    await checks.sees_only(c, ids, {"vacation"})

        run(body, timeout=240)
    finally:
        server.stop()


def test_an_uploads_server_path_never_leaves_through_mcp(live, tmp_path) -> None:
    """Uploads are named by their file name over /mcp too (the app's path rewrite covers it)."""
    server, _ = live
    writer = server.client(server.key("initech", scopes="read,write"))
    upload = tmp_path / "handbook.md"
    upload.write_text("# Handbook\n\nThe initech stapler policy allows one red stapler per desk.\n")
    with upload.open("rb") as f:
        job = writer.post("/v1/documents", files={"file": ("handbook.md", f, "text/markdown")}).json()
    assert server.wait_job(writer, job["job_id"])["status"] == "done"
    key = server.key("initech")

    async def body() -> list[str]:
        async with client(server, key) as c:
            found = await c.call_tool("search", {"query": "red stapler policy"})
            listed = await c.call_tool("list_documents", {})
            resources = await c.list_resources()
            read = await c.read_resource(resources.resources[0].uri)
            answer = await c.call_tool("ask", {"question": "How many staplers per desk?"})
            return [m.model_dump_json() for m in (found, listed, resources, read, answer)]

    replies = run(body)
    assert "handbook.md" in replies[0] and "stapler" in replies[3]
    data_dir = str(server.data_dir.resolve())
    assert not [r for r in replies if data_dir in r or "/uploads/" in r], replies
