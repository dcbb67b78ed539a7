"""The gateway in front of the real local SmolLM2 server (`provider = "local"`, started by
ragwright on first use): chat, streaming and JSON-schema output, end to end; and one server
shared by later commands."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

from ragwright.config import ModelSettings, RouteSettings, Settings
from ragwright.errors import ConfigError
from ragwright.models import ChatMessage, Gateway, local_shared
from ragwright.models.local_server import MODEL_ALIAS, smollm2_path
from tests.cli.test_cli import as_in_a_terminal
from tests.models.test_local_server import _require_llama_cpp

pytestmark = pytest.mark.slow
QUESTION = [ChatMessage("user", "What is the capital of France? Answer in one word.")]


class Capital(BaseModel):
    city: str
    continent: Literal["Europe", "Asia", "Africa", "America", "Oceania"]


@pytest.fixture(scope="module")
def gateway():
    _require_llama_cpp()
    settings = Settings(
        models={"local": ModelSettings(provider="local", model="smollm2-135m", timeout_s=300)},
        routes={"default": RouteSettings(models=["local"])},
    )
    gw = Gateway(settings)
    yield gw
    gw.close()


def test_chat_and_stream_agree(gateway):
    result = gateway.chat(QUESTION, model="default", max_tokens=16)
    assert "paris" in result.text.lower() and result.model == "local"
    assert result.usage.input_tokens > 5 and result.usage.output_tokens > 0 and not result.usage.estimated
    stream = gateway.stream(QUESTION, model="default", max_tokens=16, use_cache=False)
    pieces = list(stream)
    assert len(pieces) > 1 and "".join(pieces) == result.text and stream.result.text == result.text
    assert stream.result.usage.estimated  # llama.cpp's server sends no usage while streaming: counted here


def test_json_schema_output(gateway):
    capital = gateway.generate(
        [ChatMessage("user", "Name the capital of France and its continent.")],
        schema=Capital,
        model="default",
        max_tokens=48,
    )
    assert isinstance(capital, Capital) and capital.continent in ("Europe", "Asia", "Africa", "America", "Oceania")
    assert capital.city


# -- one server for many commands (models/local_shared.py) --------------------------------------

TOML = """[models.local]
provider = "local"
model = "smollm2-135m"
keep_alive_s = {keep}

[routes.default]
models = ["local"]
"""


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    """A runtime folder of the test's own; its server is stopped at the end."""
    _require_llama_cpp()
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("RAGWRIGHT_RUNTIME_DIR", str(folder))
    yield folder
    local_shared.stop_shared()


def _recorded(folder: Path) -> dict:
    return json.loads((folder / local_shared.STATE_NAME).read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _chat(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ragwright",
            "chat",
            "Say hi",
            "--model",
            "default",
            "--no-cache",
            "--max-tokens",
            "4",
            "--config",
            str(tmp_path / "ragwright.toml"),
            "--data-dir",
            str(tmp_path / "data"),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done, time.perf_counter() - started


def test_a_later_command_reuses_the_server(tmp_path, runtime):
    (tmp_path / "ragwright.toml").write_text(TOML.format(keep=120))
    first, cold = _chat(tmp_path)
    assert first.returncode == 0, first.stderr
    pid = _recorded(runtime)["pid"]
    assert _alive(pid)  # the command has exited; its server has not
    second, warm = _chat(tmp_path)
    assert second.returncode == 0, second.stderr
    assert _recorded(runtime)["pid"] == pid and second.stdout == first.stdout
    print(f"\nchat with a new server {cold:.2f} s, with the running one {warm:.2f} s")
    assert local_shared.stop_shared() == pid and not _alive(pid)
    assert not (runtime / local_shared.STATE_NAME).exists()


def test_a_stale_state_is_replaced_and_two_first_calls_start_one_server(runtime):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = {
        **dataclasses.asdict(
            local_shared.Endpoint(int(gone.stdout), 1, MODEL_ALIAS, str(smollm2_path()), 2048, "old", 60.0)
        )
    }
    (runtime / local_shared.STATE_NAME).write_text(json.dumps(stale))
    code = "from ragwright.models.local_shared import local_endpoint; print(local_endpoint(60).pid)"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    pids = {int(p.communicate(timeout=600)[0]) for p in procs}
    assert len(pids) == 1 and pids != {stale["pid"]}
    (pid,) = pids
    recorded = _recorded(runtime)
    assert recorded["pid"] == pid and recorded["api_key"] not in ("", "old")
    assert oct((runtime / local_shared.STATE_NAME).stat().st_mode & 0o777) == "0o600"
    other_model = {**recorded, "model_path": "/elsewhere/other.gguf"}  # another model file: not used
    (runtime / local_shared.STATE_NAME).write_text(json.dumps(other_model))
    assert local_shared.find() is None
    os.kill(pid, signal.SIGTERM)


def test_serve_local_is_found_by_later_calls(tmp_path, runtime):
    serve = subprocess.Popen(
        [sys.executable, "-m", "ragwright", "models", "serve-local", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_in_a_terminal,
    )
    try:
        started = time.monotonic()
        while not (runtime / local_shared.STATE_NAME).exists():
            assert serve.poll() is None and time.monotonic() - started < 300
            time.sleep(0.1)
        recorded = _recorded(runtime)
        assert recorded["api_key"] == "" and recorded["idle_s"] == 0  # other clients use it: no key, no idle end
        (tmp_path / "ragwright.toml").write_text(TOML.format(keep=60))
        done, _ = _chat(tmp_path)
        assert done.returncode == 0, done.stderr
        assert _recorded(runtime)["pid"] == recorded["pid"]  # no server of its own
    finally:
        serve.send_signal(signal.SIGINT)
        try:  # communicate, not wait: its stderr is a pipe nobody else reads, which must not fill up
            _, said = serve.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            said = serve.communicate()[1]
            raise AssertionError(f"serve-local did not stop on Ctrl-C in 60 s: {said[-2000:]}") from None
    assert serve.returncode == 0, said[-2000:]
    assert not _alive(recorded["pid"]) and not (runtime / local_shared.STATE_NAME).exists()


def test_the_runtime_folder_must_be_private(tmp_path, monkeypatch):
    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    monkeypatch.setenv("RAGWRIGHT_RUNTIME_DIR", str(folder))
    with pytest.raises(ConfigError, match="must belong to you with mode 700"):
        local_shared.runtime_dir()


def test_a_long_running_process_finds_a_new_server_when_its_own_has_gone(runtime):
    settings = Settings(models={"local": ModelSettings(provider="local", model="smollm2-135m", keep_alive_s=60)})
    gw = Gateway(settings)
    try:
        first = gw.chat(QUESTION, model="local", max_tokens=4, use_cache=False)
        pid = _recorded(runtime)["pid"]
        assert local_shared.stop_shared() == pid  # as when its idle time runs out while `ragwright serve` waits
        again = gw.chat(QUESTION, model="local", max_tokens=4, use_cache=False)
        assert again.text == first.text and [a.status for a in again.attempts] == ["ok"]  # no failed attempt
        assert _recorded(runtime)["pid"] != pid
    finally:
        gw.close()
