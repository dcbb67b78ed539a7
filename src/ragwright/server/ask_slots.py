"""Asks on worker threads of their own, each tenant at most its share of them (review 16).

An ask holds its thread while a model answers: seconds, or minutes against a slow or timing-out
provider. On anyio's default thread pool (40 threads, shared with every sync endpoint), one read
key sending ~40 slow asks took it all, and every other tenant's listings, feedback and asks
waited. Here an ask first takes a slot: at most `[server] ask_threads` in a process, at most
`[server] ask_threads_per_tenant` of them one tenant's (0: half), and a tenant that holds some
leaves the last eighth free for tenants that hold none. The wait for one is on the
event loop, in arrival order among the asks that may take it, and lasts at most
`[server] ask_wait_s`: then 503 `busy` with Retry-After, never an unbounded queue. The work then
runs on a limiter of its own (ask_limiter), not the default pool's.

/v1/ask (streamed or not), `rag:` models of /v1/chat/completions and MCP's `ask` tool all take
the same slots. A streamed ask holds its slot until both its thread and its response have ended
(Lease): a client that leaves, stalls or meets an error frees it when the ask's thread stops.

Gateway chats (/v1/chat/completions with a route or model) take slots of the same kind but their
own (kind "chat": `[server] chat_threads`, `chat_threads_per_tenant`, `chat_wait_s`): a gateway
is mostly chats, and an ask should not wait behind a flood of them, nor they behind asks. A
streamed chat's lease has one party, its response: the model's stream is read in its relay."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import anyio

T = TypeVar("T")
RETRY_AFTER_S = 5


def tenant_share(slots: int, per_tenant: int) -> int:
    """The slots one tenant may hold: `per_tenant`, 0 meaning half (at least 1), never above `slots`."""
    return min(per_tenant or max(1, slots // 2), slots)


@dataclass(eq=False)
class _Waiter:
    tenant: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]
    gone: bool = field(default=False)  # timed out or cancelled after its slot was granted: give it back


class AskSlots:
    """The process's ask slots (`kind` "chat": its gateway chats'), counted by tenant. Thread-safe:
    a streamed ask gives its slot back from its own thread; waiters are woken on their event loop."""

    def __init__(self, threads: int, per_tenant: int = 0, wait_s: float = 10.0, kind: str = "ask") -> None:
        self.kind = kind  # names the settings in a refusal: server.{kind}_threads...
        self.threads = threads
        self.share = tenant_share(threads, per_tenant)
        # kept for tenants that hold none: half each, two busy tenants held every slot (review 16b)
        self.reserve = threads // 8
        self.wait_s = wait_s
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}
        self._waiting: deque[_Waiter] = deque()
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def busy(self) -> int:
        with self._lock:
            return sum(self._held.values())

    def held(self, tenant: str) -> int:
        with self._lock:
            return self._held.get(tenant, 0)

    def _fits(self, tenant: str) -> bool:
        """A free slot within the tenant's share; a tenant that already holds one leaves the last
        `reserve` free slots to tenants that hold none."""
        held, mine = sum(self._held.values()), self._held.get(tenant, 0)
        return held < self.threads and mine < self.share and (not mine or self.threads - held > self.reserve)

    def _take(self, tenant: str) -> None:
        self._held[tenant] = self._held.get(tenant, 0) + 1

    async def take(self, tenant: str) -> None:
        """A slot for `tenant`, waited for on the loop up to `wait_s`; ApiError 503 `busy` beyond."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._fits(tenant):  # a waiter that fits is never left waiting by a free slot
                self._take(tenant)
                return
            waiter = _Waiter(tenant, loop, loop.create_future())
            self._waiting.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), self.wait_s)
        except TimeoutError:
            with self._lock:
                if waiter in self._waiting:
                    self._waiting.remove(waiter)
                    raise self._refusal(self._held.get(tenant, 0) >= self.share) from None
            await waiter.future  # granted as the wait ended: the hand-over is on its way
        except asyncio.CancelledError:  # the request went away while it waited
            with self._lock:
                queued = waiter in self._waiting
                if queued:
                    self._waiting.remove(waiter)
                else:
                    waiter.gone = True  # granted: a hand-over still to come gives it back
            if not queued and waiter.future.done():  # handed over already: give it back here
                self.give_back(tenant)
            raise

    def _refusal(self, mine: bool) -> Exception:
        from .deps import ApiError  # deps' ServerState holds the slots

        kind = self.kind
        if mine:
            why = (
                f"your tenant's {kind}s hold {self.share} of this server's {kind} slots, its most at once "
                f"(server.{kind}_threads_per_tenant; server.{kind}_threads = {self.threads})"
            )
        else:
            why = f"this server is answering {self.threads} {kind}s, its most at once (server.{kind}_threads)"
        return ApiError(
            503,
            "busy",
            f"{why}, and none came free within {self.wait_s:g} s (server.{kind}_wait_s): ask again shortly",
            {"Retry-After": str(RETRY_AFTER_S)},
        )

    def give_back(self, tenant: str) -> None:
        """From any thread: the slot returns, and the first waiters that now fit get slots."""
        with self._lock:
            self._held[tenant] -= 1
            if not self._held[tenant]:
                del self._held[tenant]
            for waiter in list(self._waiting):
                if not self._fits(waiter.tenant):
                    continue
                self._waiting.remove(waiter)
                self._take(waiter.tenant)
                try:
                    waiter.loop.call_soon_threadsafe(self._hand_over, waiter)
                except RuntimeError:  # its loop is closed: nobody waits any more
                    self._held[waiter.tenant] -= 1
                    if not self._held[waiter.tenant]:
                        del self._held[waiter.tenant]

    def _hand_over(self, waiter: _Waiter) -> None:
        if waiter.gone or waiter.future.done():
            self.give_back(waiter.tenant)
        else:
            waiter.future.set_result(None)

    @asynccontextmanager
    async def slot(self, tenant: str) -> AsyncIterator[None]:
        await self.take(tenant)
        try:
            yield
        finally:
            self.give_back(tenant)

    def limiter(self) -> anyio.CapacityLimiter:
        """The asks' own worker threads on this loop (tests run several loops): as many as slots
        twice over, since a streamed ask's reader and, after its client left, its drain may overlap."""
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(2 * self.threads)
        return limiter

    async def run(self, tenant: str, work: Callable[[], T]) -> T:
        """`work` on one of the asks' threads, once `tenant` holds a slot."""
        async with self.slot(tenant):
            return await anyio.to_thread.run_sync(work, limiter=self.limiter())

    def lease(self, tenant: str, parties: tuple[str, ...] = ("thread", "response")) -> Lease:
        """A slot already taken, given back once each of `parties` has said it is done."""
        return Lease(self, tenant, parties)


class Lease:
    """A taken slot shared by a streamed ask's thread and its response: the last one done gives it
    back. Each party counts once, however often it says so (a response's end is seen twice)."""

    def __init__(self, slots: AskSlots, tenant: str, parties: tuple[str, ...]) -> None:
        self._slots, self._tenant, self._left = slots, tenant, set(parties)
        self._lock = threading.Lock()

    def done(self, party: str) -> None:
        with self._lock:
            if party not in self._left:
                return
            self._left.discard(party)
            last = not self._left
        if last:
            self._slots.give_back(self._tenant)
