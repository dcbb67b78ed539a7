"""One bundled-model server per user, shared by every ragwright command: the first call that needs
`provider = "local"` starts it detached and records it in a state file; later calls (other
processes too) find it there and reuse it; it exits by itself after `keep_alive_s` without a
request. Starting one costs seconds (the model loads, and a CLI call paid that every time); a
reused one answers as soon as the model has generated.

The state file and its lock live in a directory only the user can open (RAGWRIGHT_RUNTIME_DIR,
else $XDG_RUNTIME_DIR/ragwright, else the temporary directory's ragwright-UID): whoever can write
the state could point our prompts at a server of theirs. The lock makes two first calls start one
server between them. A state that names a dead process, a server that does not answer its
health check with the recorded pid, or another model file is replaced. `ragwright models
serve-local` registers its foreground server the same way (without a key: other clients use it).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConfigError, ModelError
from .local_server import MODEL_ALIAS, LocalModelServer, shared_server, smollm2_path

STATE_NAME = "local-model.json"
LOCK_NAME = "local-model.lock"
LOG_NAME = "local-model.log"
LOCK_WAIT_S = 120.0  # another process may be starting the server: its ready timeout (60 s) and some


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What a client needs of a running local server, and what the state file records."""

    pid: int
    port: int
    model: str
    model_path: str
    n_ctx: int
    api_key: str = ""
    idle_s: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def runtime_dir() -> Path:
    """The user's private directory for the state file; created mode 700, refused if anyone else
    owns it or can open it."""
    explicit = os.environ.get("RAGWRIGHT_RUNTIME_DIR")
    if explicit:
        path = Path(explicit)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "ragwright"
    else:
        path = Path(tempfile.gettempdir()) / f"ragwright-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077 or (not explicit and path.is_symlink()):
        raise ConfigError(
            f"{path} holds the local model server's address, so it must belong to you with mode 700 "
            f"(it is mode {st.st_mode & 0o777:o}, owner uid {st.st_uid}); fix it or set "
            "RAGWRIGHT_RUNTIME_DIR"
        )
    return path


def state_paths() -> tuple[Path, Path]:
    """(state file, lock file): what a server deletes (under the lock) on its way out."""
    folder = runtime_dir()
    return folder / STATE_NAME, folder / LOCK_NAME


@contextmanager
def _locked() -> Iterator[Path]:
    from filelock import FileLock, Timeout

    folder = runtime_dir()
    try:
        with FileLock(folder / LOCK_NAME, thread_local=False).acquire(timeout=LOCK_WAIT_S):
            yield folder
    except Timeout:
        raise ModelError(
            f"another process has been starting the local model server for {LOCK_WAIT_S:g} s "
            f"(lock {folder / LOCK_NAME})"
        ) from None


def _read(folder: Path) -> Endpoint | None:
    try:
        return Endpoint(**json.loads((folder / STATE_NAME).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write(folder: Path, endpoint: Endpoint) -> None:
    tmp = folder / f".{STATE_NAME}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(endpoint), fh)
    os.replace(tmp, folder / STATE_NAME)


def _answers(endpoint: Endpoint, timeout_s: float = 5.0) -> bool:
    """The recorded process is alive, ours, and is the one answering on the recorded port. The
    health answer also restarts its idle clock, so it cannot exit before the request that follows."""
    import httpx

    try:
        os.kill(endpoint.pid, 0)  # PermissionError: that pid is another user's process now
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        resp = httpx.get(f"http://127.0.0.1:{endpoint.port}/ragwright/health", headers=headers, timeout=timeout_s)
        return resp.status_code == 200 and resp.json() == {"pid": endpoint.pid, "model": endpoint.model}
    except (OSError, httpx.HTTPError, ValueError):
        return False


def _fits(endpoint: Endpoint, model_path: Path, n_ctx: int) -> bool:
    return endpoint.model == MODEL_ALIAS and endpoint.model_path == str(model_path) and endpoint.n_ctx >= n_ctx


def find(n_ctx: int = 2048) -> Endpoint | None:
    """The running shared server, if there is one that fits."""
    with _locked() as folder:
        found = _read(folder)
        return found if found and _fits(found, smollm2_path(), n_ctx) and _answers(found) else None


def local_endpoint(keep_alive_s: float, n_ctx: int = 2048) -> Endpoint:
    """The shared server, started if none answers. keep_alive_s = 0: this process's own server,
    stopped when it exits (the behaviour before sharing)."""
    path = smollm2_path()
    if keep_alive_s <= 0:
        own = shared_server()
        return Endpoint(own.pid or 0, own.port, own.model, str(path), own.n_ctx)
    with _locked() as folder:
        found = _read(folder)
        if found and _fits(found, path, n_ctx) and _answers(found):
            return found
        key = secrets.token_urlsafe(24)
        server = LocalModelServer(
            path,
            n_ctx=n_ctx,
            log_path=folder / LOG_NAME,
            idle_s=keep_alive_s,
            api_key=key,
            detached=True,
            state=state_paths(),
        ).start()
        endpoint = Endpoint(server.pid or 0, server.port, server.model, str(path), n_ctx, key, keep_alive_s)
        _write(folder, endpoint)
        return endpoint


def register(server: LocalModelServer) -> Endpoint:
    """Record a foreground server (`ragwright models serve-local`) as the shared one."""
    endpoint = Endpoint(
        server.pid or 0,
        server.port,
        server.model,
        str(server.model_path or smollm2_path()),
        server.n_ctx,
        server.api_key,
        server.idle_s,
    )
    with _locked() as folder:
        _write(folder, endpoint)
    return endpoint


def stop_shared(wait_s: float = 15.0) -> int | None:
    """Stop the recorded server (SIGTERM, then SIGKILL after wait_s); its pid, or None if none answered."""
    with _locked() as folder:
        found = _read(folder)
        if found is None or not _answers(found):
            (folder / STATE_NAME).unlink(missing_ok=True)
            return None
        os.kill(found.pid, signal.SIGTERM)
        (folder / STATE_NAME).unlink(missing_ok=True)
    deadline = time.monotonic() + wait_s
    while _running(found.pid):
        if time.monotonic() > deadline:
            os.kill(found.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    return found.pid


def _running(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # our own child (a test started it): reap it
        return waited == 0
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False
