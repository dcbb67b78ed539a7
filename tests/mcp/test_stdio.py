"""`ragwright mcp` over stdio, as a desktop assistant runs it: a subprocess spoken to by the
official SDK's client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from ragwright.server.auth import create_key
from ragwright.store.factory import open_store
from tests.mcp import checks
from tests.mcp.corpus import make_data_dir, payload, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory, embedder) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("mcp-stdio")
    return root / "data", make_data_dir(root, embedder)


def key_for(data_dir: Path, tenant: str, scopes: str = "read", groups: str = "") -> str:
    store = open_store("", default_path=data_dir / "ragwright.db")
    try:
        return create_key(store, tenant, scopes.split(","), groups.split(","))["key"]
    finally:
        store.close()


def server(data_dir: Path, key: str | None = None) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if k != "RAGWRIGHT_API_KEY"}
    if key is not None:
        env["RAGWRIGHT_API_KEY"] = key
    return StdioServerParameters(
        command=sys.executable, args=["-m", "ragwright", "mcp", "--data-dir", str(data_dir)], env=env
    )


def test_the_owner_searches_asks_and_reads_every_document(data) -> None:
    data_dir, ids = data

    async def body() -> None:
        async with Client(server(data_dir)) as client:
            await checks.tools_work(client, ids)
            resources = {r.uri for r in (await client.list_resources()).resources}
            assert len(resources) == 3  # no key: the data dir's owner reads all of it, as with the CLI
            await checks.bad_input_is_typed(client)

    run(body)


def test_a_key_reads_over_stdio_only_what_it_may(data) -> None:
    data_dir, ids = data
    key = key_for(data_dir, "acme")

    async def body() -> None:
        async with Client(server(data_dir, key)) as client:
            await checks.tools_work(client, ids)
            await checks.sees_only(client, ids, {"vacation"})

    run(body)


def test_a_key_that_cannot_read_stops_the_command_before_it_serves(data) -> None:
    data_dir, _ = data
    for key, why in (("rw_bogus_key", "unknown or revoked"), (key_for(data_dir, "acme", "write"), "'read' scope")):
        done = subprocess.run(
            [sys.executable, "-m", "ragwright", "mcp", "--data-dir", str(data_dir), "--key", key],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done
        assert why in done.stderr and done.stdout == ""


def test_a_key_is_shown_sources_as_over_http_and_its_filter_matches_them(tmp_path, embedder) -> None:
    """A document inside the data dir: over stdio with a key its source reads `<data dir>/...`, as
    the HTTP API shows it, and a `source` filter copied from a result finds it (results showed the
    server path, which the filter, matched against the shown form, never found)."""
    from ragwright import Settings, Workspace
    from ragwright.types import Access

    data_dir = tmp_path / "data"
    note = data_dir / "notes" / "leave.md"
    note.parent.mkdir(parents=True)
    note.write_text("# Leave\n\nParental leave lasts 16 weeks at full pay.\n", encoding="utf-8")
    with Workspace(settings=Settings(data_dir=data_dir), embedder=embedder) as ws:
        ws.ingest([note], access=Access("acme"))
    key = key_for(data_dir, "acme")

    async def body() -> None:
        async with Client(server(data_dir, key)) as client:
            found = payload(await client.call_tool("search", {"query": "parental leave", "k": 1}))
            source = found["results"][0]["source"]
            assert source == "<data dir>/notes/leave.md"
            assert str(data_dir) not in json.dumps(found)
            again = payload(
                await client.call_tool("search", {"query": "parental leave", "filters": {"source": source}})
            )
            assert [r["source"] for r in again["results"]] == [source]
            (resource,) = (await client.list_resources()).resources
            assert str(data_dir) not in (resource.description or "")

    run(body)
