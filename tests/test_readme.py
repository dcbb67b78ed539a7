"""The README's examples run, so they cannot rot: Python, config, and the first steps' commands
(the HTTP server's curl lines: tests/server/test_readme_curl.py)."""

import re
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_starts_with_exactly_two_setup_commands():
    text = README.read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    assert text.index("make demo") < text.index("##")


def test_readme_python_examples_run(monkeypatch, tmp_path):
    import shutil

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    shutil.rmtree("/tmp/ragwright-readme", ignore_errors=True)
    monkeypatch.chdir(README.parent)
    results = []
    for code in blocks:
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)
        results.append(namespace)
    answers = [ns["answer"].answer for ns in results if "answer" in ns]
    replies = [ns["reply"] for ns in results if "reply" in ns]
    assert len(blocks) == 2 and answers and "80 euros" in answers[0]
    assert replies and "paris" in replies[0].text.lower() and replies[0].usage.output_tokens > 0
    shutil.rmtree("/tmp/ragwright-readme", ignore_errors=True)


def test_readme_config_examples_are_valid(tmp_path):
    """Every ```toml block is a config ragwright accepts (a misspelt key fails with its name)."""
    from ragwright.config import load_settings

    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)
    assert blocks
    for i, block in enumerate(blocks):
        path = tmp_path / f"example{i}.toml"
        path.write_text(block)
        load_settings(path, data_dir=tmp_path)


def _use_it_commands() -> list[str]:
    section = README.read_text().split("## Use it", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def _first_steps_folder(tmp_path):
    """What the commands expect to find: the repository's sample corpus and its .venv (linked),
    in a folder of their own so that .ragwright/ and ragwright.toml land there."""
    import shutil

    work = tmp_path / "repo"
    shutil.copytree(README.parent / "examples" / "sample-corpus", work / "examples" / "sample-corpus")
    (work / ".venv").symlink_to(README.parent / ".venv")
    (work / "examples" / "sample-corpus" / "logo.png").write_bytes(b"\x89PNG\r\n")
    return work


def _shell(work, activate: str, command: str) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGWRIGHT_")}
    done = subprocess.run(
        ["bash", "-c", f"set -e\n{activate}\n{command}"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done


@pytest.mark.slow
def test_readme_first_steps_run_as_written(tmp_path):
    """The "Use it" commands, each as written, in order, from a folder laid out like the repository."""
    import json

    commands = _use_it_commands()
    assert commands[0] == ". .venv/bin/activate" and [c.split()[1] for c in commands[1:]] == [
        "ingest",
        "search",
        "ask",
        "documents",
        "delete",
        "init",
    ]
    work = _first_steps_folder(tmp_path)
    ingest, search, ask, documents, delete, _init = (_shell(work, commands[0], c) for c in commands[1:])
    assert "6 ingested, 0 unchanged, 0 failed, 1 skipped" in ingest.stderr
    assert "logo.png: unsupported type .png" in ingest.stderr  # left out, and said so
    assert json.loads(search.stdout)["results"]
    assert "16 weeks" in ask.stdout and "Sources:" in ask.stdout
    assert len(documents.stdout.splitlines()) == 6
    assert "deleted" in delete.stderr and "onboarding.md" in delete.stderr
    assert (work / "ragwright.toml").exists() and (work / ".ragwright" / "ragwright.db").exists()


@pytest.mark.slow
def test_readme_tenant_example_gives_the_key_the_documents(tmp_path):
    """The README's key is of tenant acme; the CLI ingests into tenant default. Before the README's
    `--tenant acme` ingest the key is told its tenant has no documents; after it, it is answered."""
    from fastapi.testclient import TestClient

    from ragwright import Workspace
    from ragwright.server import create_app

    text = README.read_text()
    server_block = re.search(r"```bash\n(.*?)```", text.split("## HTTP server", 1)[1], re.S).group(1)
    create = next(line.split("  #")[0].strip() for line in server_block.splitlines() if "keys create" in line)
    tenant_ingest = re.search(r"`(ragwright ingest [^`]*--tenant acme[^`]*)`", text).group(1)
    work = _first_steps_folder(tmp_path)
    activate, default_ingest = _use_it_commands()[:2]
    _shell(work, activate, default_ingest)
    key = _shell(work, activate, create).stdout.strip()

    def ask() -> dict:
        with Workspace(work / ".ragwright") as ws, TestClient(create_app(workspace=ws)) as client:
            return client.post(
                "/v1/ask", json={"question": "How long is parental leave?"}, headers={"Authorization": f"Bearer {key}"}
            ).json()

    before = ask()
    assert before["abstained"] and "this tenant has no documents yet" in before["reason"], before
    _shell(work, activate, tenant_ingest)
    after = ask()
    assert not after["abstained"] and "16 weeks" in after["answer"], after
