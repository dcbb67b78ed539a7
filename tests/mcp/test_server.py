"""The MCP server in process (the SDK's client connected to it directly): what a failing tool
answers, and paging through the resources."""

from __future__ import annotations

import pytest
from mcp import Client

from ragwright.errors import InjectionBlocked, StoreUnavailable
from ragwright.mcp import tools
from ragwright.mcp.server import build_server
from tests.conftest import SAMPLE_CORPUS
from tests.mcp.corpus import payload, run


@pytest.fixture
def ingested(workspace):
    workspace.ingest([SAMPLE_CORPUS])
    return workspace


@pytest.mark.parametrize(
    "raised, kind, says",
    [
        (StoreUnavailable("the database is restarting", 1.0), "store_unavailable", "restarting"),
        (InjectionBlocked("the question tries to override instructions"), "injection_blocked", "override"),
        (ValueError("filters: unknown field 'colour'"), "invalid_request", "colour"),
        (RuntimeError("/srv/secret/path exploded"), "internal_error", "RuntimeError"),
    ],
)
def test_a_tool_that_raises_answers_a_typed_error_and_the_server_goes_on(
    ingested, monkeypatch, raised, kind, says
) -> None:
    def fail(*args, **kwargs):
        raise raised

    monkeypatch.setattr(ingested, "search", fail)
    server = build_server(ingested, lambda ctx: None)

    async def body() -> None:
        async with Client(server) as client:
            result = await client.call_tool("search", {"query": "vacation"})
            assert result.is_error
            error = payload(result)["error"]
            assert error["type"] == kind and says in error["message"]
            assert "/srv/secret" not in error["message"]  # an unexpected error's text stays in the log
            assert not (await client.call_tool("ask", {"question": "How many vacation days?"})).is_error

    run(body)


def test_resources_come_a_page_at_a_time_and_every_one_once(ingested, monkeypatch) -> None:
    monkeypatch.setattr(tools, "PAGE", 4)
    server = build_server(ingested, lambda ctx: None)

    async def body() -> None:
        async with Client(server) as client:
            first = await client.list_resources()
            assert len(first.resources) == 4 and first.next_cursor == "4"
            second = await client.list_resources(cursor=first.next_cursor)
            assert len(second.resources) == 2 and second.next_cursor is None
            uris = [r.uri for r in first.resources + second.resources]
            assert len(set(uris)) == 6
            listed = payload(await client.call_tool("list_documents", {"limit": 4, "offset": 4}))
            assert [d["uri"] for d in listed["documents"]] == uris[4:] and listed["next_offset"] is None

    run(body)


def test_a_key_revoked_while_stdio_serves_is_refused_at_its_next_request(ingested) -> None:
    from mcp.shared.exceptions import MCPError

    from ragwright.mcp.stdio import keyholder
    from ragwright.server.auth import create_key

    made = create_key(ingested.store, "default", ["read"])
    server = build_server(ingested, lambda ctx: keyholder(ingested, made["key"]))  # as serve_stdio does

    async def body() -> None:
        async with Client(server) as client:
            assert payload(await client.call_tool("search", {"query": "vacation"}))["results"]
            assert ingested.store.revoke_api_key(made["id"])
            with pytest.raises(MCPError) as refused:
                await client.call_tool("search", {"query": "vacation"})
            assert refused.value.data == {"type": "unauthorized"}
            with pytest.raises(MCPError):
                await client.list_resources()

    run(body)


def test_the_http_server_refuses_a_message_that_did_not_come_through_the_authenticated_endpoint(ingested) -> None:
    from mcp.shared.exceptions import MCPError

    from ragwright.mcp.http import from_request

    server = build_server(ingested, from_request)  # no HTTP request, so no principal: never served unscoped

    async def body() -> None:
        async with Client(server) as client:
            with pytest.raises(MCPError) as refused:
                await client.call_tool("search", {"query": "vacation"})
            assert refused.value.data == {"type": "unauthorized"}
            with pytest.raises(MCPError):
                await client.read_resource(tools.uri_of(ingested.documents()[0].doc_id))

    run(body)
