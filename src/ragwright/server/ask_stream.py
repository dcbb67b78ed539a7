"""An answer as /v1 returns it (answer_json), and POST /v1/ask with "stream": true as Server-Sent
Events, with the pieces the OpenAI-compatible chat streams with: the ask runs in a thread of its
own and hands its draft over a queue; a client that goes away stops the model's stream."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import queue
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse

from .._uploads_layout import DIGESTS_LEN, FOLDER
from ..errors import RagwrightError
from ..generate.links import HeldText
from ..models.streaming import StreamAborts
from ..observe import collecting_sent
from ..types import Answer
from .ask_slots import AskSlots, Lease
from .deps import UNEXPECTED, state_of
from .http_protocol import connection_abort

log = logging.getLogger(__name__)


def answer_json(answer: Answer) -> dict[str, Any]:
    data = answer.to_dict()
    data["citations"] = [
        {k: c[k] for k in ("n", "doc_id", "chunk_id", "source", "text", "score", "location")} for c in data["citations"]
    ]
    return data  # includes trace_id: feedback attaches to it


def touched(answer: Answer, sent: Iterable[str] = ()) -> list[str]:
    """An ask's documents for the audit log: those its answer cites, then those only a model read
    (a generated answer's context, an agent's searches), which it may have repeated uncited."""
    return list(dict.fromkeys([*(c.doc_id for c in answer.citations), *sorted(sent)]))


# A word that starts a path: "/", "\\" or "C:/" after nothing or punctuation (not "and/or", "https://")
_PATH_ROOT = re.compile(r"(?:^|[^\w.:/\\])(?P<root>[/\\]|[A-Za-z]:[/\\])")
_WORD = re.compile(r"\s*(\S+)")
HOLD_CHARS = 8192  # of a line with a path that a streamed draft holds back at most


def pieces(text: str) -> Iterator[str]:
    """Text in word-sized pieces, spaces kept, so that joining them gives the text back. A word
    that starts a path takes the rest of its line along: a path may hold spaces (a data dir in
    "Application Support"), and the server's path scrubber (server/uploads.py) reads one event at
    a time, so a path cut in two would leave whole once the client joins the pieces."""
    at = 0
    while at < len(text):
        m = _WORD.match(text, at)
        if m is None:  # whitespace at the end
            yield text[at:]
            return
        end = m.end()
        if _PATH_ROOT.search(m[1]):
            eol = text.find("\n", m.start(1))
            end = len(text) if eol < 0 else eol
        yield text[at:end]
        at = end


def path_carry(root: str | None = None) -> HeldText:
    """A streamed draft's deltas, re-cut so that no event carries part of a path and the next one
    the rest: a line from a word that starts a path waits for the next delta, and so does a last
    word that may become the start of one. Given the data dir (`root`, resolved), only a path
    that is, or may still become, the data dir waits, and only until its upload folders are whole
    (UPLOAD_TAIL characters more)."""
    return HeldText(functools.partial(_carry_cut, root=root))


UPLOAD_TAIL = len(f"/{FOLDER}/") + DIGESTS_LEN  # the folders the scrubber takes out with the data dir


def _carry_cut(text: str, root: str | None = None) -> int:
    line, floor = text.rfind("\n") + 1, 0  # no cut before `floor`: inside a data-dir path, now whole
    for m in re.finditer(r"\S+", text[line:]):
        found = _PATH_ROOT.search(m[0])
        if found is None:
            continue
        at = line + m.start() + found.start("root")
        tail = text[at:]
        if len(tail) > HOLD_CHARS:
            return len(text)
        if root is None or root.startswith(tail) or (tail.startswith(root) and len(tail) < len(root) + UPLOAD_TAIL):
            return line + m.start()
        if tail.startswith(root):
            floor = at + len(root) + UPLOAD_TAIL
    last = re.search(r"\S+$", text)
    return max(last.start() if last and _may_start_path(last[0]) else len(text), floor)


def _may_start_path(word: str) -> bool:
    """Whether the next piece could turn this last word into the start of a path: a drive letter
    ("C", "C:"), or a word ending where a path root may follow ("(", a quote). Other words go out
    with their piece (holding every last word made each delta a word late, and a stalled model's
    last word never left)."""
    return re.fullmatch(r"[A-Za-z]:?", word) is not None or re.match(r"[\w.:/\\]", word[-1]) is None


class _Pulled:
    """A sync stream read by one thread at a time: the relay's reads, and the drain that a client
    going away starts while a read may still be running (a generator cannot be resumed twice)."""

    def __init__(self, events: Iterator[str]) -> None:
        self._events = events
        self._lock = threading.Lock()

    def next(self) -> str | None:
        with self._lock:
            return next(self._events, None)

    def drain(self) -> None:
        """Read the stream to its end, sending nothing: aborted, it ends at once, through the path
        that books the partial call (its usage and cost, the budget settled) and writes its trace."""
        try:
            with self._lock:
                for _ in self._events:
                    pass
        except Exception:
            log.exception("a stream whose client went away failed while it was being closed")


_draining: set[asyncio.Future[None]] = set()  # drains in progress, held until done


def _drain_soon(pulled: _Pulled, limiter: anyio.CapacityLimiter | None = None) -> None:
    task = asyncio.ensure_future(anyio.to_thread.run_sync(pulled.drain, limiter=limiter))
    _draining.add(task)
    task.add_done_callback(_draining.discard)


async def relay(
    request: Request, events: Iterator[str], abort: Callable[[], None], limiter: anyio.CapacityLimiter | None = None
) -> AsyncIterator[str]:
    """The events of a sync stream, read in a worker thread, while another task waits for the
    client to go away: the thread may be blocked reading a model that has gone quiet, and nothing
    is sent (so nothing fails) until it speaks. `abort` then closes the upstream response, which
    frees the thread and the connection now, not at the read timeout; the stream is then read to
    its end, so that the call is booked and traced now (a stream left suspended was closed by the
    garbage collector, unbilled, and its budget reservation expired after 10 minutes).

    A client that keeps its connection but stops reading is gone too, once one event has waited
    `[server] stream_stall_s` to be sent: its socket's buffers are full and the event loop's send
    waits for it for good (uvicorn has no send timeout), holding the model's stream unbooked
    while its reservation expires. Its connection is then reset, so that the send returns and the
    events buffered for it are dropped (http_protocol.BoundedProtocol).

    `limiter`: the threads that read the stream and drain it (an ask's own: ask_slots.py); None,
    the default pool's."""
    pulled = _Pulled(events)
    stall_s = state_of(request).ws.settings.server.stream_stall_s
    sending: list[float] = []  # when the event being sent was handed over, while it is

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    async def stalled() -> None:
        while not (sending and time.monotonic() - sending[0] > stall_s):
            await asyncio.sleep(min(1.0, stall_s / 4))
        log.warning("a streaming client read nothing for %.0f s: its model stream is stopped", stall_s)

    async def watch() -> None:
        left = asyncio.ensure_future(gone())
        stall = asyncio.ensure_future(stalled()) if stall_s else None
        try:
            await asyncio.wait([left] + ([stall] if stall else []), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (left, stall):
                if task is not None:
                    task.cancel()
        abort()
        _drain_soon(pulled, limiter)
        reset = connection_abort(request.scope)
        if stall is not None and stall.done() and not stall.cancelled() and reset is not None:
            reset()  # the send waiting for the client returns, and what was buffered for it goes

    watcher = asyncio.ensure_future(watch())
    ended = False
    try:
        while (event := await anyio.to_thread.run_sync(pulled.next, limiter=limiter)) is not None:  # None: ended
            sending.append(time.monotonic())
            yield event  # the response sends it before it asks for the next one
            sending.clear()
        ended = True
    finally:
        watcher.cancel()
        abort()
        if not ended:  # closed, or cancelled, before the stream's end
            _drain_soon(pulled, limiter)


async def streamed_answer(
    request: Request, run: Callable[..., Any], asks: AskSlots | None = None, tenant: str = ""
) -> StreamingResponse:
    """The ask runs in a thread of its own and hands its draft over a queue. The response starts
    with its first event, so that a question refused before any text (blocked, invalid, no model
    answering) still gets its HTTP status. A client that goes away stops the model's stream.

    With `asks`, the ask first takes one of the tenant's slots (503 busy if none comes free in
    time), and holds it until both its thread and its response have ended, however they end: its
    reads of the queue run on the asks' threads, not the shared pool."""
    limiter = None
    lease = None
    if asks is not None:
        await asks.take(tenant)
        lease, limiter = asks.lease(tenant), asks.limiter()
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    aborts, sent = StreamAborts(), set[str]()

    def work() -> None:
        try:
            with aborts.active(), collecting_sent() as read:
                answer = run(on_text=lambda piece: events.put(("delta", piece)))
                sent.update(read)  # before the answer is handed over: its audit entry names them
                events.put(("answer", answer))
        except Exception as exc:  # noqa: BLE001  handed to the response: raised there, or sent as an error event
            events.put(("error", exc))
        finally:
            if lease is not None:
                lease.done("thread")

    thread = threading.Thread(target=contextvars.copy_context().run, args=(work,), name="ask-stream", daemon=True)
    try:
        try:
            thread.start()
        except BaseException:
            if lease is not None:
                lease.done("thread")
            raise
        first = await anyio.to_thread.run_sync(events.get, limiter=limiter)
        if first[0] == "error":
            raise first[1]
    except BaseException:
        aborts.abort()
        if lease is not None:
            lease.done("response")
        raise
    stream = relay(request, _sse_answer(request, first, events, sent), aborts.abort, limiter)
    return LeasedStream(stream, aborts.abort, lease, media_type="text/event-stream")


class LeasedStream(StreamingResponse):
    """A streamed ask's response: however it ends (its events sent, the client gone, cancelled
    before its first event), the model's stream is stopped and its part of the slot is done.
    Its generator's own cleanup runs only if it was started, so this cannot rest on it."""

    def __init__(self, content: AsyncIterator[str], abort: Callable[[], None], lease: Lease | None, **kw: Any) -> None:
        super().__init__(content, **kw)
        self._abort, self._lease = abort, lease

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._abort()
            if self._lease is not None:
                self._lease.done("response")


def _event(kind: str, payload: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(payload)}\n\n"


def _sse_answer(
    request: Request, first: tuple[str, Any], events: queue.Queue[tuple[str, Any]], sent: set[str]
) -> Iterator[str]:
    root = str(Path(state_of(request).ws.settings.data_dir).resolve())
    kind, value, drafted, carry = *first, False, path_carry(root)
    while True:
        if kind == "delta":
            drafted = True
            if text := carry.feed(value):
                yield _event("delta", {"text": text})
            kind, value = events.get()
            continue
        if text := carry.end():
            yield _event("delta", {"text": text})
        if kind == "answer":
            request.state.doc_ids = touched(value, sent)
            data = answer_json(value)
            for piece in () if drafted else pieces(data["answer"]):
                yield _event("delta", {"text": piece})
            yield _event("answer", data)
        elif isinstance(value, (RagwrightError, ValueError)):  # written for the caller, as app.py answers them
            yield _event("error", {"type": type(value).__name__, "message": str(value)})
        else:  # a bug's text may name paths or data: the log has it, as app.py's 500 says
            log.error("a streamed answer failed", exc_info=value)
            yield _event("error", {"type": "internal_error", "message": UNEXPECTED})
        return
