"""`provider = "local"`: the bundled SmolLM2 behind the shared server of local_shared.py, spoken to
over the OpenAI protocol. The server is looked up (or started) on the first request, not when the
gateway is built: a route may never reach this model. It is looked up again when its port stops
answering: it exits after keep_alive_s without requests, while a long-running process (ragwright
serve) may still hold its address.

Tools: llama-cpp-python's server, with the model's own chat template, turns a request naming one
tool (`tool_choice` of a name, or "required" with one tool: sent as that name) into a call whose
arguments are constrained to the tool's schema by a grammar; "auto", and "required" among several
tools, are asked as JSON output whose grammar allows a call of any tool or (auto) an answer
(local_tools.py). Earlier calls and results are written into the messages as text, since the
template knows no tool turns (openai.text_message)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import httpx

from ...errors import ConfigError, ModelError, ProviderError
from .base import Delta, ProviderReply, StreamCancel, failure
from .local_tools import needs_union, read_union, union_request
from .openai import OpenAIProvider

if TYPE_CHECKING:
    from ..types import ChatRequest

R = TypeVar("R")


def _gone(exc: ProviderError) -> bool:
    """Nothing listens on the port any more: safe to look again, nothing was sent."""
    return exc.kind == "connection" and isinstance(exc.__cause__, httpx.ConnectError)


class LocalProvider:
    def __init__(self, name: str, keep_alive_s: float, n_ctx: int = 2048) -> None:
        self.name = name
        self.keep_alive_s = keep_alive_s
        self.n_ctx = n_ctx
        self._inner: OpenAIProvider | None = None
        self._lock = threading.Lock()

    def _provider(self, stale: OpenAIProvider | None = None) -> OpenAIProvider:
        """The client of the shared server; a new one (server found or started again) when the
        current one is `stale`. A server that cannot start is this model failing, so that a route
        falls back to its next model."""
        from ..local_shared import local_endpoint

        with self._lock:
            if self._inner is not None and self._inner is not stale:
                return self._inner
            try:
                endpoint = local_endpoint(self.keep_alive_s, self.n_ctx)
            except ConfigError as exc:
                what = "the local model is not usable"  # callers read that; the log, why (paths, ports)
                raise failure(self.name, "auth", what, f"{what}: {exc}") from exc
            except ModelError as exc:
                what = "the local model server did not start"
                raise failure(self.name, "connection", what, f"{what}: {exc.detail}") from exc
            if self._inner is not None:
                self._inner.close()
            self._inner = OpenAIProvider(
                self.name,
                endpoint.base_url,
                endpoint.model,
                endpoint.api_key,
                json_mode="json_object",
                native_tool_turns=False,
            )
            return self._inner

    def _left(self, timeout: float, since: float) -> float:
        """The attempt's timeout less the time spent finding or starting the server."""
        left = timeout - (time.monotonic() - since)
        if left <= 0:
            raise ProviderError(
                self.name,
                "timeout",
                f"starting the local model server took longer than the "
                f"attempt's {timeout:g} s (it keeps running for the next call)",
            )
        return left

    def _once_more(self, call: Callable[[OpenAIProvider, float], R], timeout: float) -> R:
        since = time.monotonic()
        inner = self._provider()
        try:
            return call(inner, self._left(timeout, since))
        except ProviderError as exc:
            if not _gone(exc):
                raise
        return call(self._provider(stale=inner), self._left(timeout, since))

    def complete(self, request: ChatRequest, timeout: float) -> ProviderReply:
        if needs_union(request):
            asked = union_request(request)
            return read_union(self._once_more(lambda p, t: p.complete(asked, t), timeout))
        return self._once_more(lambda p, t: p.complete(request, t), timeout)

    def stream(
        self, request: ChatRequest, timeout: float, cancel: StreamCancel | None = None
    ) -> Iterator[Delta | ProviderReply]:
        """A turn asked as JSON (local_tools.py) is read whole, then its text sent as one piece."""
        if not needs_union(request):
            yield from self._stream(request, timeout, cancel)
            return
        for item in self._stream(union_request(request), timeout, cancel):
            if isinstance(item, ProviderReply):
                reply = read_union(item)
                if reply.text:
                    yield Delta(reply.text)
                yield reply
            else:  # the JSON as it is written: billed, never shown
                yield Delta(item.text, shown=False)

    def _stream(
        self, request: ChatRequest, timeout: float, cancel: StreamCancel | None = None
    ) -> Iterator[Delta | ProviderReply]:
        since = time.monotonic()
        inner = self._provider()
        try:
            yield from inner.stream(request, self._left(timeout, since), cancel)
            return
        except ProviderError as exc:
            if not _gone(exc):  # a connect error comes before any text: nothing was yielded
                raise
        yield from self._provider(stale=inner).stream(request, self._left(timeout, since), cancel)

    def close(self) -> None:
        with self._lock:
            if self._inner is not None:
                self._inner.close()
                self._inner = None
