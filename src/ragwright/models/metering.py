"""The usage of every gateway call made inside a block of code, in this request only: read from
the gateway's call records (so a call that failed after it was billed, a re-ask, a fallback's
attempts are all counted), whether traces are kept or not. Concurrent requests each see their own
calls: the hook is installed once per gateway and reads a context variable. Scopes nest: a call
counts in every scope open around it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from .types import CallRecord, Usage

if TYPE_CHECKING:
    from .gateway import Gateway

_calls: ContextVar[tuple[list[Usage], ...]] = ContextVar("ragwright_metered_calls", default=())
_hooked = threading.Lock()


def _meter(record: CallRecord) -> None:
    for calls in _calls.get():  # every open scope: an agent's inside a rag: request's
        calls.append(record.usage)


@contextmanager
def metered(gateway: Gateway) -> Iterator[list[Usage]]:
    """`with metered(gw) as calls:` ... `calls` holds the Usage of each call made inside."""
    with _hooked:
        if _meter not in gateway.on_record:
            gateway.on_record.append(_meter)
    calls: list[Usage] = []
    token = _calls.set((*_calls.get(), calls))
    try:
        yield calls
    finally:
        _calls.reset(token)
