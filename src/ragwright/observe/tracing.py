"""Traces of requests: a tree of timed spans with their attributes (tokens, cost, inputs,
outputs), collected in-process through a context variable and written to the store when the
request ends.

Instrumented code calls `span(...)` wherever it likes; when no trace is active it costs one
context-variable lookup and records nothing:

    with start_trace("ask", input={"question": q}, sink=store.save_trace) as t:
        with span("retrieve", mode="hybrid") as s:
            ...
            s.set(results=len(hits))
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from typing import Any

MAX_TEXT = 4000  # characters kept of any one input or output value
MAX_SPANS = 2000  # per trace: a runaway loop cannot fill the memory or the store
MAX_ITEMS = 1000  # entries kept of a list or dict in a trace's input or a span's attributes
MAX_TRACE_TEXT = 100_000  # characters a stored trace keeps in all (its text, keys and items counted)
MAX_DEPTH = 16  # containers nested deeper in a stored trace are kept as "…"
KEPT_WHOLE = ("doc_ids", "doc_versions")  # what deletion reads of a trace: never clipped


@dataclass(slots=True)
class Span:
    span_id: str
    parent_id: str | None
    name: str
    start: float  # seconds since the epoch
    duration_ms: float = 0.0
    attributes: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"  # "ok" | "error"
    error: str | None = None

    def set(self, **attributes: Any) -> None:
        self.attributes.update({k: _clip(v) for k, v in attributes.items()})


@dataclass(slots=True)
class Trace:
    trace_id: str
    name: str
    start: float
    input: dict[str, Any]
    output: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    status: str = "ok"
    error: str | None = None
    key_id: str | None = None
    tenant: str | None = None
    doc_ids: set[str] = field(default_factory=set)  # documents whose text the trace holds
    doc_versions: dict[str, str] = field(default_factory=dict)  # the version of each read (store/quoted.py)
    spans: list[Span] = field(default_factory=list)
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        """By hand rather than dataclasses.asdict, whose deep copy of every attribute cost more
        than the search it describes (1.5 ms a trace). The trace is finished: nothing mutates it."""
        data = {name: getattr(self, name) for name in _TRACE_FIELDS}
        data["doc_ids"] = sorted(self.doc_ids)
        data["spans"] = [{name: getattr(s, name) for name in _SPAN_FIELDS} for s in self.spans]
        return data


# Span ids need only be unique within their trace: a counter from a random start, not a system
# call for random bytes on each of a request's dozen spans.
_span_numbers = itertools.count(secrets.randbits(40))
_random_pool: list[bytes] = []
_pool_lock = threading.Lock()


def new_trace_id() -> str:
    """ "t" + 16 random hex digits, from the system's CSPRNG like secrets.token_hex, but drawn 512
    at a time: one os.urandom per trace cost a server 4% of its time (a system call each, and the
    GIL given up and taken back)."""
    with _pool_lock:
        if not _random_pool:
            block = os.urandom(8 * 512)
            _random_pool.extend(block[i : i + 8] for i in range(0, len(block), 8))
        return "t" + _random_pool.pop().hex()


def _after_fork() -> None:
    """A forked child must not repeat its parent's ids, nor inherit a lock held at the fork."""
    global _pool_lock
    _pool_lock = threading.Lock()
    _random_pool.clear()


os.register_at_fork(after_in_child=_after_fork)
_TRACE_FIELDS = tuple(f.name for f in fields(Trace))
_SPAN_FIELDS = tuple(f.name for f in fields(Span))
_current: ContextVar[tuple[Trace, list[Span]] | None] = ContextVar("ragwright_trace", default=None)
_muted: ContextVar[bool] = ContextVar("ragwright_trace_muted", default=False)


class _NoSpan:
    def set(self, **attributes: Any) -> None:
        pass


_NO_SPAN = _NoSpan()


def current_trace() -> Trace | None:
    active = _current.get()
    return active[0] if active else None


@contextmanager
def start_trace(
    name: str,
    *,
    input: dict[str, Any],
    sink: Callable[[Trace], None] | None,
    key_id: str | None = None,
    tenant: str | None = None,
) -> Iterator[Trace | None]:
    """A new trace, unless one is already active (a search inside an ask is part of the ask's)."""
    if _current.get() is not None or sink is None or _muted.get():
        yield current_trace()
        return
    trace = Trace(
        new_trace_id(), name, time.time(), {k: _clip(v) for k, v in input.items()}, key_id=key_id, tenant=tenant
    )
    token = _current.set((trace, []))
    started = time.perf_counter()
    try:
        yield trace
    except BaseException as exc:
        trace.status, trace.error = "error", f"{type(exc).__name__}: {exc}"[:MAX_TEXT]
        raise
    finally:
        trace.duration_ms = (time.perf_counter() - started) * 1000
        _current.reset(token)
        sink(trace)


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span | _NoSpan]:
    active = _current.get()
    if active is None or len(active[0].spans) >= MAX_SPANS or _muted.get():
        yield _NO_SPAN
        return
    trace, stack = active
    item = Span(
        f"s{next(_span_numbers):x}",
        stack[-1].span_id if stack else None,
        name,
        time.time(),
        attributes={k: _clip(v) for k, v in attributes.items()},
    )
    trace.spans.append(item)
    stack.append(item)
    started = time.perf_counter()
    try:
        yield item
    except BaseException as exc:
        item.status, item.error = "error", f"{type(exc).__name__}: {exc}"[:MAX_TEXT]
        raise
    finally:
        item.duration_ms = (time.perf_counter() - started) * 1000
        stack.pop()


@contextmanager
def muted() -> Iterator[None]:
    """No spans and no new traces inside: an evaluation's thousand inner searches are one step."""
    token = _muted.set(True)
    try:
        yield
    finally:
        _muted.reset(token)


def note_documents(doc_ids: Any, versions: Mapping[str, str] | None = None) -> None:
    """The active trace now holds text of these documents: deleting one deletes the trace.
    `versions`: doc_id -> the version its text was read at; the store keeps the trace only while
    each is still the stored one (the first read of a document is the one held to it)."""
    trace = current_trace()
    if trace is not None:
        trace.doc_ids.update(doc_ids)
        for doc_id, version in (versions or {}).items():
            if version:
                trace.doc_versions.setdefault(doc_id, version)


_sent: ContextVar[set[str] | None] = ContextVar("ragwright_sent", default=None)


@contextmanager
def collecting_sent() -> Iterator[set[str]]:
    """The documents whose text is sent to a model while the block runs. A request's audit entry
    names them beside the ones its answer cites: a model read them and may have repeated them
    uncited (or in sentences the answer shows as dropped), whether or not traces are kept."""
    sent: set[str] = set()
    token = _sent.set(sent)
    try:
        yield sent
    finally:
        _sent.reset(token)


def note_sent(doc_ids: Any) -> None:
    """Text of these documents goes to a model: the trace holds it, and the request disclosed it.
    `doc_ids`: ids, or doc_id -> the version read (CallContext.quoted)."""
    ids = [d for d in doc_ids or () if d]
    note_documents(ids, doc_ids if isinstance(doc_ids, Mapping) else None)
    sent = _sent.get()
    if sent is not None:
        sent.update(ids)


def add_cost(cost_usd: float, input_tokens: int, output_tokens: int) -> None:
    trace = current_trace()
    if trace is not None:
        trace.cost_usd += cost_usd
        trace.input_tokens += input_tokens
        trace.output_tokens += output_tokens


def _clip(value: Any, depth: int = 0) -> Any:
    """Strings cut to MAX_TEXT, inside lists and dicts too (a chat's messages are a list): a trace
    holding a 1 MB message would cost its memory, its row, and, redacted, minutes of the writer's
    CPU. Containers are kept to MAX_ITEMS entries."""
    if isinstance(value, str):
        return value[:MAX_TEXT] + "…" if len(value) > MAX_TEXT else value
    if depth >= 4:
        return value
    if isinstance(value, (list, tuple)):
        items = [_clip(v, depth + 1) for v in value[:MAX_ITEMS]]
        return [*items, "…"] if len(value) > MAX_ITEMS else items
    if isinstance(value, dict):
        return {k: _clip(v, depth + 1) for k, v in itertools.islice(value.items(), MAX_ITEMS)}
    return value


def bounded(data: dict[str, Any], slack: int = 1) -> dict[str, Any]:
    """A trace's JSON form (Trace.to_dict) as the store keeps it: every string cut to MAX_TEXT,
    every list and dict to MAX_ITEMS, the spans to MAX_SPANS, and all of it to MAX_TRACE_TEXT
    characters in all (input and output first, then the spans in order; the spans past the
    budget are dropped and counted in "spans_dropped"). The store applies it to whatever it is
    given, so a trace built by hand (a streamed chat's) is bounded as start_trace's are.
    doc_ids and doc_versions stay whole: deleting a document finds its traces through them.
    `slack`: the text bounds that many times over, for a trace to be redacted and then bounded
    again: a cut made before redaction can split a private value (an e-mail, a card number) so
    that the redactor no longer sees it (review 16b); the second, tighter cut comes first in
    every string, so the fragment the first one left is dropped with what follows it."""
    left = [MAX_TRACE_TEXT * slack]
    text_max = MAX_TEXT * slack
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in KEPT_WHOLE:
            out[key] = value
        elif key == "spans" and isinstance(value, (list, tuple)):
            spans = []
            for item in value[:MAX_SPANS]:
                if left[0] <= 0:
                    break
                spans.append(_bound(item, 1, left, text_max))
            out[key] = spans
            if len(spans) < len(value):
                out["spans_dropped"] = len(value) - len(spans)
        else:
            out[key] = _bound(value, 0, left, text_max)
    return out


def _bound(value: Any, depth: int, left: list[int], text_max: int = MAX_TEXT) -> Any:
    """`value` clipped as _clip does, charging what it keeps to `left` (characters still allowed).
    Short strings and numbers are kept in the loops without a call: most of a trace is those."""
    if isinstance(value, str):
        keep = min(text_max, max(left[0], 0))
        left[0] -= min(len(value), keep) + 2
        return value if len(value) <= keep else value[:keep] + "…"
    if not isinstance(value, (list, tuple, dict)):
        left[0] -= 8
        return value
    if depth >= MAX_DEPTH:
        left[0] -= 3
        return "…"
    cut = len(value) > MAX_ITEMS
    if isinstance(value, dict):
        kept: dict[Any, Any] = {}
        for k, v in itertools.islice(value.items(), MAX_ITEMS):
            if left[0] <= 0:
                cut = True
                break
            if type(k) is str and type(v) in _PLAIN and len(k) < SHORT and (type(v) is not str or len(v) < SHORT):
                left[0] -= len(k) + (len(v) if type(v) is str else 8) + 4
                kept[k] = v
                continue
            name = _bound(k, depth + 1, left, text_max) if isinstance(k, str) else k  # the key before its value
            kept[name] = _bound(v, depth + 1, left, text_max)
        if cut:
            kept["…"] = "…"
        return kept
    items = []
    for v in value[:MAX_ITEMS]:
        if left[0] <= 0:
            cut = True
            break
        if type(v) in _PLAIN and (type(v) is not str or len(v) < SHORT):
            left[0] -= (len(v) if type(v) is str else 8) + 2
            items.append(v)
            continue
        items.append(_bound(v, depth + 1, left, text_max))
    return [*items, "…"] if cut else items


SHORT = 256  # a string shorter than this is kept whole while the budget lasts (checked before each entry)
_PLAIN = frozenset({str, int, float, bool, type(None)})
