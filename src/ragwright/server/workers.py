"""`ragwright serve --workers N`: N uvicorn processes behind one listening socket, with every new
connection handed to the worker that holds the fewest.

Why not let the kernel spread them: uvicorn's own supervisor shares one socket, and asyncio
accepts up to 100 waiting connections per wake-up, so a burst of clients lands on whichever worker
woke first (all 32 of a benchmark's, in one run here). SO_REUSEPORT hashes each connection to a
worker at random instead: with 32 long-lived connections, splits like 21/11 came up, and the
fuller worker's clients waited twice as long (p99 111 against 84 ms). So the supervisor, idle
otherwise, accepts; it passes each connection's file descriptor over a Unix socket (SCM_RIGHTS)
to the least-loaded worker, which adopts it into its event loop. Each worker publishes how many
connections it holds in shared memory.

Sockets are made as TCP sockets explicitly: asyncio turns Nagle's algorithm off only when the
socket says IPPROTO_TCP, and without that every response waited 40 ms for a delayed ACK.

The supervisor restarts a worker that dies, and passes SIGTERM / SIGINT on for a graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import multiprocessing
import os
import signal
import socket
import threading
import time
from typing import Any

import uvicorn

_OPEN, _ADOPTED = 0, 1  # per worker in shared memory: connections it holds, connections it was given


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(2048)
    return sock


def _worker(options: dict[str, Any], channel: socket.socket, counts: Any, slot: int) -> None:
    import uvicorn

    config = uvicorn.Config("ragwright.server.app:app_from_env", factory=True, **options)
    AdoptingServer(config, channel, counts, slot).run(sockets=[])


class AdoptingServer(uvicorn.Server):
    """A uvicorn server that listens on nothing and serves the connections the supervisor sends."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket, counts: Any, slot: int) -> None:
        super().__init__(config)
        self.channel, self.counts, self.slot = channel, counts, slot
        self._publisher: asyncio.Task[None] | None = None
        self._connecting = 0

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])
        loop = asyncio.get_running_loop()
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._adopt, loop)
        self._publisher = loop.create_task(self._publish())

    def _adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                msg, fds, flags, _ = socket.recv_fds(self.channel, 64, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                msg, fds, flags = b"", [], 0
            if not msg:  # the supervisor is gone: so is this server
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            if flags & socket.MSG_CTRUNC:  # out of file descriptors: that connection is lost, not the channel
                for fd in fds:
                    os.close(fd)
                continue
            for fd in fds:
                sock = socket.socket(fileno=fd)
                sock.setblocking(False)
                self.counts[self.slot * 2 + _ADOPTED] += 1
                self.counts[self.slot * 2 + _OPEN] += 1
                self._connecting += 1  # counted until uvicorn lists the connection
                task = loop.create_task(loop.connect_accepted_socket(self._protocol, sock))
                task.add_done_callback(self._connected)

    def _connected(self, _task: asyncio.Task[Any]) -> None:
        self._connecting -= 1

    def _protocol(self) -> asyncio.Protocol:
        # uvicorn types http_protocol_class as asyncio.Protocol; the class it holds (httptools' or h11's
        # protocol) takes these arguments
        return self.config.http_protocol_class(
            config=self.config,
            server_state=self.server_state,  # type: ignore[call-arg]
            app_state=self.lifespan.state,
        )

    async def _publish(self) -> None:
        while True:
            self.counts[self.slot * 2 + _OPEN] = len(self.server_state.connections) + self._connecting
            await asyncio.sleep(0.02)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._publisher is not None:
            asyncio.get_running_loop().remove_reader(self.channel.fileno())
            self._publisher.cancel()
        self.channel.close()
        await super().shutdown(sockets=sockets)


class _Balancer:
    """Accepts on the listening socket and hands each connection to the least-loaded worker."""

    def __init__(self, listener: socket.socket, workers: int) -> None:
        self.listener = listener
        self.counts = multiprocessing.get_context("spawn").Array("q", 2 * workers, lock=False)
        self.channels: list[socket.socket | None] = [None] * workers
        self.given = [0] * workers  # connections handed to each worker (its current process)
        self.base = [0] * workers  # what its shared counter said when the current process started

    def load(self, i: int) -> int:
        """Connections the worker holds, counting those sent but not yet adopted."""
        in_flight = self.given[i] - (int(self.counts[2 * i + _ADOPTED]) - self.base[i])
        return int(self.counts[2 * i + _OPEN]) + max(0, in_flight)

    def attach(self, i: int, channel: socket.socket) -> None:
        self.channels[i] = channel
        self.given[i], self.base[i] = 0, self.counts[2 * i + _ADOPTED]
        self.counts[2 * i + _OPEN] = 0

    def serve(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError as exc:
                if stopping.is_set():  # the listener was closed
                    return
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    time.sleep(0.1)  # out of resources for a moment: the connection waits in the backlog
                continue
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._hand_over(conn)

    def _hand_over(self, conn: socket.socket) -> None:
        """To the least-loaded worker that takes it at once: a worker whose channel is full (stalled,
        or still starting) is passed over, so that one slow worker never stops the accepting."""
        order = sorted((i for i, c in enumerate(self.channels) if c is not None), key=self.load)
        for i in order:
            channel = self.channels[i]
            if channel is None:  # detached since `order` was made: its worker died
                continue
            try:
                socket.send_fds(channel, [b"c"], [conn.fileno()])
                self.given[i] += 1
                return
            except OSError:  # full (BlockingIOError) or dead: the next one; a dead one is restarted
                continue


class Restarts:
    """When to start a worker again after it died: at once after a long life, with a doubling wait
    (up to a minute) while each new one dies within `quick_s` (a worker that cannot start would
    otherwise be spawned, load its model and die twice a second)."""

    def __init__(self, workers: int, quick_s: float = 10.0, cap_s: float = 60.0) -> None:
        self.quick_s, self.cap_s = quick_s, cap_s
        self.started = [0.0] * workers
        self.failures = [0] * workers
        self.not_before: list[float | None] = [None] * workers

    def due(self, i: int, now: float) -> bool:
        """Called while worker i is dead: whether to start it now (and then it counts as started)."""
        not_before = self.not_before[i]
        if not_before is None:  # just found dead
            self.failures[i] = self.failures[i] + 1 if now - self.started[i] < self.quick_s else 0
            not_before = now + (min(self.cap_s, 0.5 * 2.0 ** (self.failures[i] - 1)) if self.failures[i] else 0.0)
            self.not_before[i] = not_before
        if now < not_before:
            return False
        self.started[i], self.not_before[i] = now, None
        return True


def run_workers(host: str, port: int, workers: int, options: dict[str, Any], graceful_s: float) -> None:
    """Serve until SIGTERM or SIGINT, then let every worker finish its requests (graceful_s)."""
    listener = listening_socket(host, port)
    balancer = _Balancer(listener, workers)
    ctx = multiprocessing.get_context("spawn")
    stopping = threading.Event()

    def start(i: int) -> Any:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        proc = ctx.Process(target=_worker, args=(options, theirs, balancer.counts, i), name=f"ragwright-worker-{i}")
        proc.start()
        theirs.close()
        ours.setblocking(False)
        old = balancer.channels[i]
        balancer.attach(i, ours)
        if old is not None:
            old.close()
        return proc

    def stop(signum: int, _frame: Any) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    procs = [start(i) for i in range(workers)]
    accepter = threading.Thread(target=balancer.serve, args=(stopping,), name="ragwright-accept", daemon=True)
    accepter.start()
    try:
        restarts = Restarts(workers)
        while not stopping.wait(0.5):
            for i, proc in enumerate(procs):
                if not proc.is_alive() and restarts.due(i, time.monotonic()):  # crashed: a fresh one
                    procs[i] = start(i)
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        listener.close()  # no new connections; the workers finish theirs
        for proc in procs:
            if proc.is_alive() and proc.pid:
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + graceful_s + 5
        for proc in procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
        for channel in balancer.channels:
            if channel is not None:
                channel.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
