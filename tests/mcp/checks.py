"""What every transport must do, written once: the same checks run over stdio and over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from ragwright.mcp.tools import uri_of
from tests.mcp.corpus import OPEN, SECRETS, payload


async def tools_work(client: Client, ids: dict[str, str]) -> None:
    """List tools; search, ask (extractive, cited) and read a resource, as the open document's reader."""
    listed = {t.name: t for t in (await client.list_tools()).tools}
    assert set(listed) == {"search", "ask", "list_documents"}
    assert listed["search"].input_schema["required"] == ["query"]
    assert listed["ask"].annotations is not None and listed["ask"].annotations.read_only_hint

    found = payload(await client.call_tool("search", {"query": "paid vacation days", "k": 3}))
    assert found["results"][0]["doc_id"] == ids["vacation"]
    assert "25 days" in found["results"][0]["text"]

    answer = payload(await client.call_tool("ask", {"question": "How many vacation days do full-time employees get?"}))
    assert not answer["abstained"], answer
    assert "25 days" in answer["answer"] and "[1]" in answer["answer"]
    assert [c["doc_id"] for c in answer["citations"]] == [ids["vacation"]]

    (template,) = (await client.list_resource_templates()).resource_templates
    read = await client.read_resource(template.uri_template.replace("{doc_id}", ids["vacation"]))
    assert OPEN in read.contents[0].text
    assert read.contents[0].mime_type == "text/plain"


async def sees_only(client: Client, ids: dict[str, str], visible: set[str]) -> None:
    """The attack: a caller that must not see some documents asks for them every way it can:
    searching their words, asking about them, listing resources and documents, reading them by
    URI, and naming them in filters. It gets nothing of them, and an invisible document reads
    exactly like one that does not exist."""
    hidden = {ids[name] for name in ids} - {ids[name] for name in visible}
    secrets = [SECRETS[name] for name in ids if name not in visible]
    assert hidden and secrets, "a test of hiding needs something hidden"

    for query in ("zorblax", "zorblax salary band 91000", "Globex launch March"):
        found = payload(await client.call_tool("search", {"query": query, "k": 10}))
        assert not {r["doc_id"] for r in found["results"]} & hidden, (query, found)
        assert not any(s in r["text"] for r in found["results"] for s in secrets)

    answer = payload(await client.call_tool("ask", {"question": "What is the zorblax salary band or launch date?"}))
    assert not {c["doc_id"] for c in answer["citations"]} & hidden
    assert not any(s in answer["answer"] for s in secrets), answer["answer"]

    resources = {r.uri for r in (await client.list_resources()).resources}
    assert resources == {uri_of(ids[name]) for name in visible}
    listed = payload(await client.call_tool("list_documents", {}))
    assert {d["doc_id"] for d in listed["documents"]} == {ids[name] for name in visible}
    assert listed["total"] == len(visible)

    with pytest.raises(MCPError) as absent:
        await client.read_resource(uri_of("d_0000000000000000"))
    for doc_id in hidden:
        with pytest.raises(MCPError) as refused:
            await client.read_resource(uri_of(doc_id))
        assert refused.value.code == absent.value.code
        assert refused.value.data["type"] == absent.value.data["type"] == "not_found"
        narrowed = payload(await client.call_tool("search", {"query": "zorblax", "filters": {"doc_id": doc_id}}))
        assert narrowed["results"] == []


async def bad_input_is_typed(client: Client) -> None:
    """An unknown tool is a protocol error; arguments that fail the schema are a tool error the
    model can read; neither stops the server."""
    with pytest.raises(MCPError) as unknown:
        await client.call_tool("delete_everything", {})
    assert unknown.value.data == {"type": "unknown_tool"}
    assert "search, ask, list_documents" in unknown.value.message

    bad: list[dict[str, Any]] = [
        {},  # no query
        {"query": "vacation", "k": "5"},  # strict: a string is not a number
        {"query": "vacation", "k": 0},
        {"query": "vacation", "mode": "psychic"},
        {"query": "vacation", "limit": 3},  # no such argument
        {"query": "x" * 5000},
    ]
    for arguments in bad:
        result = await client.call_tool("search", arguments)
        assert result.is_error, arguments
        assert payload(result)["error"]["type"] == "invalid_request", arguments

    with pytest.raises(MCPError) as cursor:
        await client.list_resources(cursor="not-a-number")
    assert cursor.value.data == {"type": "invalid_request"}
    assert (await client.call_tool("list_documents", {"limit": 1})).is_error is False  # still serving
