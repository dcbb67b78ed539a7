"""An answer as /v1 returns it (answer_json), and POST /v1/ask with "stream": true as Server-Sent
Events, with the pieces the OpenAI-compatible chat streams with: the ask runs in a thread of its
own and hands its draft over a queue; a client that goes away stops the model's stream."""

from __future__ import annotations

import asyncio
import contextvars
import json
import queue
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from ..models.streaming import StreamAborts
from ..observe import collecting_sent
from ..types import Answer


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


def pieces(text: str) -> Iterator[str]:
    """Text in word-sized pieces, spaces kept, so that joining them gives the text back."""
    yield from re.findall(r"\s*\S+", text) or ([text] if text else [])


async def relay(request: Request, events: Iterator[str], abort: Callable[[], None]) -> AsyncIterator[str]:
    """The events of a sync stream, read in a worker thread, while another task waits for the
    client to go away: the thread may be blocked reading a model that has gone quiet, and nothing
    is sent (so nothing fails) until it speaks. `abort` then closes the upstream response, which
    frees the thread, the connection and the budget reservation now, not at the read timeout."""

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        abort()

    watcher = asyncio.ensure_future(watch())
    try:
        while (event := await run_in_threadpool(next, events, None)) is not None:  # None: the events ended
            yield event
    finally:
        watcher.cancel()
        abort()


def streamed_answer(request: Request, run: Callable[..., Any]) -> StreamingResponse:
    """The ask runs in a thread of its own and hands its draft over a queue. The response starts
    with its first event, so that a question refused before any text (blocked, invalid, no model
    answering) still gets its HTTP status. A client that goes away stops the model's stream."""
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

    threading.Thread(target=contextvars.copy_context().run, args=(work,), name="ask-stream", daemon=True).start()
    first = events.get()
    if first[0] == "error":
        raise first[1]
    return StreamingResponse(
        relay(request, _sse_answer(request, first, events, sent), aborts.abort), media_type="text/event-stream"
    )


def _event(kind: str, payload: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(payload)}\n\n"


def _sse_answer(
    request: Request, first: tuple[str, Any], events: queue.Queue[tuple[str, Any]], sent: set[str]
) -> Iterator[str]:
    kind, value, drafted = *first, False
    while True:
        if kind == "delta":
            drafted = True
            yield _event("delta", {"text": value})
        elif kind == "answer":
            request.state.doc_ids = touched(value, sent)
            data = answer_json(value)
            for piece in () if drafted else pieces(data["answer"]):
                yield _event("delta", {"text": piece})
            yield _event("answer", data)
            return
        else:
            yield _event("error", {"type": type(value).__name__, "message": str(value)})
            return
        kind, value = events.get()
