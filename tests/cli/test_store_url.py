"""The CLI on a store it cannot reach or cannot use: one line that names it (password masked),
exit code 2, no traceback; and nothing written where the data dir's SQLite file would be."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

RAGWRIGHT = [sys.executable, "-m", "ragwright"]


def _closed_port() -> int:
    """A port nothing listens on: bound, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAGWRIGHT_STORE_URL": url}
    env.pop("RAGWRIGHT_HOME", None)
    return subprocess.run([*RAGWRIGHT, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


@pytest.mark.parametrize("command", [["documents"], ["serve", "--port", "0"], ["search", "anything"]])
def test_postgresql_unreachable_at_start_is_one_line_and_exit_2(tmp_path: Path, command: list[str]):
    url = f"postgresql://ann:hunter2@127.0.0.1:{_closed_port()}/ragwright"
    proc = _run([*command, "--data-dir", str(tmp_path / "data")], url, tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: PostgreSQL at postgresql://ann:***@127.0.0.1:"), lines[0]
    assert "hunter2" not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "ragwright.db").exists()


def test_an_unknown_scheme_is_a_config_error_and_exit_2(tmp_path: Path):
    proc = _run(["documents", "--data-dir", str(tmp_path / "data")], "mysql://ann:hunter2@db/rag", tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: store url 'mysql://ann:***@db/rag': unknown scheme 'mysql'; use sqlite:///PATH or "
        "postgresql://USER@HOST:PORT/DB ([store] url in ragwright.toml, or RAGWRIGHT_STORE_URL)"
    ]
