"""`ragwright chat` with the configuration file exactly as the gateway issue writes it."""

import json
import os
import subprocess
import sys

import pytest

from tests.provider_server import ProviderServer, cut_stream, status

ISSUE_TOML = """\
[models.primary]
provider = "openai"                 # OpenAI-compatible wire protocol
base_url = "http://127.0.0.1:9001/v1"
model = "gpt-4o-mini"
api_key_env = "PRIMARY_API_KEY"
input_price_per_mtok = 0.15
output_price_per_mtok = 0.60
timeout_s = 5

[models.backup]
provider = "openai"
base_url = "http://127.0.0.1:9002/v1"
model = "backup-model"
api_key_env = "BACKUP_API_KEY"

[routes.default]
models = ["primary", "backup"]
strategy = "priority"
"""


def _server(port, reply):
    try:
        return ProviderServer(port=port, reply=reply)
    except OSError:  # the port is taken on this machine: same file, another port
        return ProviderServer(reply=reply)


@pytest.fixture
def issue_setup(tmp_path):
    a = _server(9001, lambda body: "primary here").start()
    b = _server(9002, lambda body: "backup here").start()
    text = ISSUE_TOML.replace("127.0.0.1:9001", f"127.0.0.1:{a.port}").replace("127.0.0.1:9002", f"127.0.0.1:{b.port}")
    (tmp_path / "ragwright.toml").write_text(text)
    env = {**os.environ, "PRIMARY_API_KEY": "pk", "BACKUP_API_KEY": "bk", "RAGWRIGHT_HOME": str(tmp_path / "data")}
    yield a, b, tmp_path / "ragwright.toml", env
    a.stop()
    b.stop()


def run(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "ragwright", *args], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.slow
def test_chat_json_fallback_cache_and_usage(issue_setup):
    a, b, config, env = issue_setup
    res = run(env, "chat", "Hello there", "--model", "default", "--json", "--config", str(config))
    data = json.loads(res.stdout)
    assert res.returncode == 0 and set(data) == {"text", "model", "attempts", "usage", "cost_usd", "cached"}
    assert data["text"] == "primary here" and data["model"] == "primary" and data["cached"] is False
    assert data["usage"] == {"input_tokens": 11, "output_tokens": 7}
    assert data["cost_usd"] == pytest.approx((11 * 0.15 + 7 * 0.60) / 1e6)
    assert a.last().headers["authorization"] == "Bearer pk"
    again = json.loads(run(env, "chat", "Hello there", "--json", "--config", str(config)).stdout)
    assert again["cached"] is True and again["cost_usd"] == 0 and a.count() == 1  # --model defaults to "default"
    a.fail_always(status(503))
    fell = json.loads(
        run(env, "chat", "Another question", "--model", "default", "--json", "--config", str(config)).stdout
    )
    assert fell["model"] == "backup" and fell["text"] == "backup here"
    assert [x["status"] for x in fell["attempts"]] == ["error", "error", "error", "ok"]
    assert all(set(x) == {"model", "status", "error", "latency_ms"} for x in fell["attempts"])
    assert b.last().headers["authorization"] == "Bearer bk"
    usage = json.loads(run(env, "usage", "--by", "model", "--json", "--config", str(config)).stdout)
    assert {r["model"]: r["calls"] for r in usage["rows"]} == {"backup": 1, "primary": 2}


@pytest.mark.slow
def test_chat_stream_and_errors(issue_setup):
    a, b, config, env = issue_setup
    a.reply = lambda body: "one two three four"
    res = run(env, "chat", "Count", "--stream", "--config", str(config))
    assert res.returncode == 0 and res.stdout == "one two three four\n"
    a.fail_next(cut_stream(2))
    res = run(env, "chat", "Count again", "--stream", "--json", "--config", str(config))
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert res.returncode == 2 and [x["delta"] for x in lines[:-1]] == ["one", " two"]
    assert lines[-1]["incomplete"] is True and lines[-1]["text"] == "one two" and "incomplete" in lines[-1]["error"]
    a.fail_always(status(500))
    b.fail_always(status(500))
    res = run(env, "chat", "Anyone?", "--config", str(config))
    assert res.returncode == 2 and "no model answered" in res.stderr and "backup" in res.stderr
    res = run(env, "chat", "Hi", "--model", "nope", "--config", str(config))
    assert res.returncode == 2 and "no route or model named 'nope'" in res.stderr
