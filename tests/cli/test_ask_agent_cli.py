"""`ragwright ask --agent`: the installed command, a scripted model that searches, then answers."""

import json
import os
import subprocess
import sys

import pytest

from tests.provider_server import ProviderServer, tool_call

pytestmark = pytest.mark.slow

TOML = """\
[models.m]
provider = "openai"
base_url = "{url}/v1"
model = "m"
timeout_s = 5

[routes.default]
models = ["m"]

[answer]
model = "default"
"""


def run(env, *args):
    proc = subprocess.run(
        [sys.executable, "-m", "ragwright", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_ask_agent_searches_and_reports_its_steps(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "leave.md").write_text("# Leave\n\nParental leave lasts 16 weeks at full pay.\n")
    seen = []

    def reply(body):
        seen.append(body)
        if not any(m["role"] == "tool" for m in body["messages"]):
            return [tool_call("search_documents", {"query": "parental leave duration"})]
        return "Parental leave lasts 16 weeks [1]."

    with ProviderServer(reply=reply) as srv:
        config = tmp_path / "ragwright.toml"
        config.write_text(TOML.format(url=srv.base_url))
        env = {**os.environ, "RAGWRIGHT_HOME": str(tmp_path / "data")}
        run(env, "ingest", str(tmp_path / "docs"), "--config", str(config))
        data = json.loads(run(env, "ask", "How long is leave?", "--agent", "--json", "--config", str(config)).stdout)
        plain = run(env, "ask", "How long is leave?", "--agent", "--max-steps", "1", "--config", str(config))
    assert data["agent"]["status"] == "answered" and data["mode"] == "agent"
    assert "16 weeks" in data["answer"] and data["citations"][0]["source"].endswith("leave.md")
    assert data["agent"]["steps"][0]["searches"][0]["query"] == "parental leave duration"
    # one step only: the model's search uses it up, the answer comes from what it found
    assert "step_limit after 1 steps" in plain.stderr and "16 weeks" in plain.stdout
