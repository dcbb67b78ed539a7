"""`ragwright serve --workers N`: N uvicorn processes on one port, each with its own listening
socket (SO_REUSEPORT), so that the kernel spreads new connections over them.

uvicorn's own supervisor shares one socket between its workers, and asyncio accepts up to 100
waiting connections per wake-up: a burst of clients lands on whichever worker woke first (all 32
of a benchmark's, in one run here), and the other core idles. The sockets are also made as TCP
sockets explicitly: asyncio turns Nagle's algorithm off only when the socket says IPPROTO_TCP,
and without that every response waited 40 ms for a delayed ACK.

The supervisor restarts a worker that dies, and passes SIGTERM / SIGINT on for a graceful stop."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import threading
import time
from typing import Any


def listening_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    if listen:
        sock.listen(2048)
    return sock


def _worker(host: str, port: int, options: dict[str, Any]) -> None:
    import uvicorn

    config = uvicorn.Config("ragwright.server.app:app_from_env", factory=True, **options)
    uvicorn.Server(config).run(sockets=[listening_socket(host, port)])


def run_workers(host: str, port: int, workers: int, options: dict[str, Any], graceful_s: float) -> None:
    """Serve until SIGTERM or SIGINT, then let every worker finish its requests (graceful_s)."""
    held = listening_socket(host, port, listen=False)  # claims the port (bound, not accepting) for the group
    port = held.getsockname()[1]  # the one chosen, for port 0
    ctx = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def start() -> Any:
        proc = ctx.Process(target=_worker, args=(host, port, options), name="ragwright-worker")
        proc.start()
        return proc

    def stop(signum: int, _frame: Any) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    procs = [start() for _ in range(workers)]
    try:
        while not stopping.wait(0.5):
            for i, proc in enumerate(procs):
                if not proc.is_alive():  # crashed: serve on with a fresh one
                    procs[i] = start()
    finally:
        for proc in procs:
            if proc.is_alive() and proc.pid:
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + graceful_s + 5
        for proc in procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
        held.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
