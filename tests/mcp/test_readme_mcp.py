"""The README's MCP section, run as written: the desktop assistant's config starts `ragwright
mcp` over stdio (only its two placeholder paths are replaced by this checkout's), and its curl
line asks through /mcp on a live `ragwright serve` (only the address changes)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.mcp.corpus import payload, run
from tests.server.live import LiveServer

README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.slow


def section() -> str:
    return README.read_text().split("## MCP\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    from ragwright import Settings, Workspace
    from tests.conftest import SAMPLE_CORPUS

    data = tmp_path_factory.mktemp("readme-mcp") / "data"
    with Workspace(settings=Settings(data_dir=data), embedder=embedder) as ws:
        ws.ingest([SAMPLE_CORPUS])
    return data


def test_the_desktop_config_starts_a_server_that_answers(data_dir: Path) -> None:
    config = json.loads(re.search(r"```json\n(.*?)```", section(), re.S).group(1))
    entry = config["mcpServers"]["ragwright"]
    command = entry["command"].replace("/path/to/ragwright", str(README.parent))
    args = [a.replace("/path/to/ragwright/.ragwright", str(data_dir)) for a in entry["args"]]
    assert Path(command).exists() and args[0] == "mcp", (command, args)
    env = {k: v for k, v in os.environ.items() if k != "RAGWRIGHT_API_KEY"}

    async def body() -> None:
        async with Client(StdioServerParameters(command=command, args=args, env=env)) as client:
            answer = payload(await client.call_tool("ask", {"question": "How long is parental leave?"}))
            assert "16 weeks" in answer["answer"] and answer["citations"]
            assert len((await client.list_resources()).resources) == 6

    run(body)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_curl_line_asks_through_mcp(data_dir: Path) -> None:
    (line,) = [x for x in re.search(r"```bash\n(.*?)```", section(), re.S).group(1).splitlines() if x.strip()]
    server = LiveServer(data_dir).start()

    def curl(key: str) -> dict:
        command = line.replace("localhost:8000", f"127.0.0.1:{server.port}")
        done = subprocess.run(
            ["bash", "-c", command], env={**os.environ, "KEY": key}, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done
        return json.loads(done.stdout)

    try:
        reply = curl(server.key("default"))
        assert "16 weeks" in reply["result"]["structuredContent"]["answer"] and not reply["result"].get("isError")
        assert curl("not-a-key")["error"]["type"] == "unauthorized"
    finally:
        server.stop()
