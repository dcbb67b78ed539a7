"""The process behind `provider = "local"`: llama-cpp-python's OpenAI-compatible app under uvicorn,
plus what `python -m llama_cpp.server` lacks for a server that many ragwright commands share
(local_shared.py):

- it exits after `--idle_s` seconds without a request (none while one is in flight), so a server
  started by `ragwright ask` does not hold 200 MB forever;
- `GET /ragwright/health` answers at once with the process id and the model alias, even while a
  reply is being generated (llama.cpp's own `/v1/models` waits for the model's lock), so a client
  can tell that the port still belongs to the process its state file names;
- the API key comes from the environment (RAGWRIGHT_LOCAL_KEY), never the command line, which
  every local user can read; the app answers anyone with CORS `*`, so the key is what keeps a web
  page or another user off a server that outlives the command that started it;
- on the way out it deletes the state file if that still names this process.

Started by LocalModelServer as `python -m ragwright.models._local_host ...`; imports no other
part of ragwright but filelock (already a dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

KEY_ENV = "RAGWRIGHT_LOCAL_KEY"
HEALTH_PATH = "/ragwright/health"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Activity:
    """ASGI middleware: counts requests in flight, remembers when the last one ended, answers the
    health path itself, and calls `on_shutdown` when the server shuts down (uvicorn re-raises a
    SIGTERM once it has shut down, so code after `server.run()` does not run then)."""

    def __init__(self, app: Any, alias: str, key: str | None, on_shutdown: Callable[[], object] = lambda: None) -> None:
        self.app, self.alias, self.key, self.on_shutdown = app, alias, key, on_shutdown
        self._inflight = 0
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def idle_for(self) -> float:
        with self._lock:
            return 0.0 if self._inflight else time.monotonic() - self._last

    def _touch(self, delta: int) -> None:
        with self._lock:
            self._inflight += delta
            self._last = time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._noting_shutdown(receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self._touch(+1)
        try:
            if scope["path"] == HEALTH_PATH:
                await self._health(scope, send)
            else:
                await self.app(scope, receive, send)
        finally:
            self._touch(-1)

    def _noting_shutdown(self, receive: Receive) -> Receive:
        async def wrapped() -> dict[str, Any]:
            message = await receive()
            if message.get("type") == "lifespan.shutdown":
                self.on_shutdown()
            return message

        return wrapped

    async def _health(self, scope: Scope, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        allowed = self.key is None or headers.get(b"authorization") == f"Bearer {self.key}".encode()
        body = json.dumps({"pid": os.getpid(), "model": self.alias} if allowed else {"error": "unauthorized"})
        await send(
            {
                "type": "http.response.start",
                "status": 200 if allowed else 401,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


def forget_state(state: Path | None, lock: Path | None, wait_s: float = 5.0) -> bool:
    """Delete the state file if it names this process; False if a client holds the lock (it may
    be about to use this server: the caller then keeps serving)."""
    if state is None or lock is None:
        return True
    from filelock import FileLock, Timeout

    try:
        with FileLock(lock, thread_local=False).acquire(timeout=wait_s):
            try:
                named = json.loads(state.read_text()).get("pid")
            except (OSError, ValueError, AttributeError):
                return True
            if named == os.getpid():
                state.unlink(missing_ok=True)
            return True
    except Timeout:
        return False


def _watch(server: Any, activity: Activity, idle_s: float, state: Path | None, lock: Path | None) -> None:
    """Stop the server once it has been idle for idle_s, unless a client is looking it up."""
    while not server.should_exit:
        time.sleep(min(1.0, idle_s / 4))
        if activity.idle_for() >= idle_s and forget_state(state, lock, wait_s=0):
            server.should_exit = True


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="ragwright.models._local_host")
    p.add_argument("--model", required=True)
    p.add_argument("--alias", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--n_ctx", type=int, default=2048)
    p.add_argument("--n_threads", type=int, default=1)
    p.add_argument("--idle_s", type=float, default=0.0, help="0: serve until stopped")
    p.add_argument("--state", type=Path, default=None)
    p.add_argument("--lock", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    key = os.environ.pop(KEY_ENV, "") or None
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    app = create_app(  # loads the model: the port is bound only once it has loaded
        server_settings=ServerSettings(host="127.0.0.1", port=args.port, api_key=key),
        model_settings=[
            ModelSettings(model=args.model, model_alias=args.alias, n_ctx=args.n_ctx, n_threads=args.n_threads)
        ],
    )
    activity = Activity(app, args.alias, key, on_shutdown=lambda: forget_state(args.state, args.lock))
    server = uvicorn.Server(
        uvicorn.Config(activity, host="127.0.0.1", port=args.port, access_log=False, interface="asgi3")
    )
    if args.idle_s > 0:
        threading.Thread(
            target=_watch, args=(server, activity, args.idle_s, args.state, args.lock), daemon=True
        ).start()
    try:
        server.run()
    finally:
        forget_state(args.state, args.lock)


if __name__ == "__main__":
    main()
