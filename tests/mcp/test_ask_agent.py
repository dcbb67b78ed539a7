"""The MCP `ask` tool with "agent": true, over the SDK's client: the loop of generate/agent.py
behind a key, whose permissions the model's searches cannot widen, and `max_steps` bounding it."""

from __future__ import annotations

import json

from mcp import Client

from ragwright import Workspace
from ragwright.mcp.server import build_server
from ragwright.mcp.stdio import keyholder
from ragwright.server.auth import create_key
from ragwright.types import Access
from tests.generate.test_agent import agent_settings
from tests.mcp.corpus import payload, run
from tests.provider_server import ProviderServer
from tests.server.test_ask_agent import LEAVE, SALARY, reply  # the HTTP test's documents and script


def test_an_agent_ask_over_mcp_searches_within_the_key_and_honours_max_steps(tmp_path, embedder) -> None:
    with ProviderServer(reply=reply) as srv:
        ws = Workspace(settings=agent_settings(tmp_path / "d", srv), embedder=embedder)
        ws.ingest_records([LEAVE])
        ws.ingest_records([SALARY], access=Access("default", ("board",)))
        staff = create_key(ws.store, "default", ["read"], ["staff"])["key"]
        server = build_server(ws, lambda ctx: keyholder(ws, staff))
        question = {"question": "How long is leave?"}

        async def body() -> tuple[dict, dict, dict, object]:
            async with Client(server) as client:
                agent = payload(await client.call_tool("ask", {**question, "agent": True}))
                one_step = payload(await client.call_tool("ask", {**question, "agent": True, "max_steps": 1}))
                plain = payload(await client.call_tool("ask", question))
                refused = await client.call_tool("ask", {**question, "agent": True, "max_steps": 0})
                return agent, one_step, plain, refused

        agent, one_step, plain, refused = run(body)
        read = json.dumps([r.body["messages"] for r in srv.requests])  # everything the model was shown
        ws.close()
    assert agent["agent"]["status"] == "answered" and "16 weeks" in agent["answer"]
    assert [c["doc_id"] for c in agent["citations"]] == ["leave"]
    assert "16 weeks" in read and "412,000" not in read and "412,000" not in json.dumps(agent)
    assert one_step["agent"]["status"] == "step_limit" and len(one_step["agent"]["steps"]) == 1
    assert not plain.get("agent")  # no flag, no loop: the plain ask as before
    assert refused.is_error and payload(refused)["error"]["type"] == "invalid_request"
