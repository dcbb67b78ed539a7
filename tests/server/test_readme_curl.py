"""The README's HTTP server commands, run as written against a live `ragwright serve`: the key
from `ragwright keys create`, then each `curl` line (curl's `-d` sends a form content type, which
the server must read as the JSON it is), then `ragwright audit`. Only the address changes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_CORPUS
from tests.server.live import LiveServer

README = Path(__file__).resolve().parents[2] / "README.md"


def http_server_commands() -> list[str]:
    section = README.read_text().split("## HTTP server", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_http_examples_work_as_written(tmp_path):
    commands = http_server_commands()
    assert [c.split()[:2] for c in commands] == [
        ["ragwright", "keys"],
        ["ragwright", "serve"],
        ["curl", "-s"],
        ["curl", "-s"],
        ["curl", "-s"],
        ["ragwright", "audit"],
    ]
    server = LiveServer(tmp_path / "data")
    env = {
        **os.environ,
        "RAGWRIGHT_HOME": str(server.data_dir),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(SAMPLE_CORPUS / "remote-work.pdf", work / "policy.pdf")

    def run(command: str) -> str:
        done = subprocess.run(
            ["bash", "-c", command.replace("localhost:8000", f"127.0.0.1:{server.port}")],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        return done.stdout

    env["KEY"] = run(commands[0]).strip()
    server.start()
    try:
        upload = json.loads(run(commands[2]))
        assert upload.get("status") == "queued", upload
        with server.client(env["KEY"]) as client:
            assert server.wait_job(client, upload["job_id"])["status"] == "done"
        search, ask = json.loads(run(commands[3])), json.loads(run(commands[4]))
        assert "error" not in search and search["results"], search
        assert "error" not in ask and ask["answer"], ask
    finally:
        server.stop()  # the audit log is written as the server goes
    audit = run(commands[5])
    assert "/v1/search" in audit and "/v1/ask" in audit and " 200 " in audit
