"""REST endpoints under /v1: documents (upload as background jobs), jobs, search, ask (optionally
streamed over SSE), evaluation runs. Every read goes through the caller's access: documents of
its tenant that have no groups or share one of its groups, filtered inside retrieval."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import queue
import re
import secrets
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..generate.followup import Turn
from ..ingest.parsers import FORMATS
from ..ingest.pipeline import doc_id_for
from ..models.embedding import recall_scope
from ..models.streaming import StreamAborts
from ..models.types import CallContext
from ..retrieve.retriever import MAX_QUERY_CHARS, access_scope
from ..types import Answer, DocumentRecord, SearchResult
from .auth import Principal
from .bodies import MAX_UPLOAD_FILES
from .deps import ApiError, require, state_of
from .uploads import safe_name, scope_folder

router = APIRouter()
SEARCH_FIELDS = ("doc_id", "chunk_id", "source", "score", "text", "title", "heading_path", "page", "location")
FilterValue = str | int | float | bool | list[str | int | float | bool]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "k": "5" and "stream": "yes" are mistakes, not values


class SearchBody(_Body):
    query: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="at most answer.max_question_chars characters (4,000 unless lowered)",
    )
    k: int = Field(10, ge=1, le=100)
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    filters: dict[str, FilterValue] | None = None


class HistoryTurn(_Body):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class AskBody(_Body):
    question: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="at most answer.max_question_chars characters (4,000 unless lowered)",
    )
    filters: dict[str, FilterValue] | None = None
    stream: bool = False
    history: list[HistoryTurn] = Field(
        default_factory=list,
        max_length=50,
        description="the conversation before the question, oldest first: a follow-up is made standalone before "
        "retrieval, and the answer's `question` is the question searched for",
    )
    agent: bool = Field(
        False, description="the [answer] model searches as often as it needs, then answers; `agent` in the reply"
    )
    max_steps: int | None = Field(
        None, ge=1, le=20, description="fewer model turns for an agent than [answer] agent_max_steps (never more)"
    )


def user_filters(filters: dict[str, Any] | None, principal: Principal) -> dict[str, Any]:
    """The caller's filters plus its access; it may narrow what it sees, never widen it."""
    out = dict(filters or {})
    if "access" in out or "tenant" in out:
        raise ApiError(400, "invalid_request", "filters may not name 'access' or 'tenant': they come from your key")
    out["access"] = principal.access
    return out


def _uploads_root(request: Request) -> Path:
    return _resolved(str(state_of(request).ws.settings.data_dir)) / "uploads"


@functools.lru_cache(maxsize=16)
def _resolved(path: str) -> Path:
    """Resolving walks the path with a system call per part: once per data dir, not per result."""
    return Path(path).resolve()


# Sources and locations of uploads are server paths here: every response body leaves through
# PublicPathsMiddleware (uploads.py), which names an upload by its file name.


def result_json(r: SearchResult) -> dict[str, Any]:
    data = r.to_dict()
    return {k: data[k] for k in SEARCH_FIELDS}


def answer_json(answer: Answer) -> dict[str, Any]:
    data = answer.to_dict()
    data["citations"] = [
        {k: c[k] for k in ("n", "doc_id", "chunk_id", "source", "text", "score", "location")} for c in data["citations"]
    ]
    return data  # includes trace_id: feedback attaches to it


# -- documents and jobs ------------------------------------------------------------------------


@router.post("/documents", status_code=202, tags=["documents"])
async def upload_documents(
    request: Request,
    file: list[UploadFile] = File(..., description="one or more files"),
    groups: str | None = Form(None, description="comma-separated groups that may read them"),
    principal: Principal = Depends(require("write")),
) -> dict[str, Any]:
    """Save the files, then ingest them in a background job: poll GET /v1/jobs/{job_id}."""
    state = state_of(request)
    limit = int(state.ws.settings.ingest.max_file_mb * 1024 * 1024)
    wanted = sorted({g.strip() for g in (groups or "").split(",") if g.strip()})
    foreign = [g for g in wanted if g not in principal.groups]
    if foreign and "admin" not in principal.scopes:
        raise ApiError(
            403, "forbidden", f"your key is not in group(s) {', '.join(foreign)}: it could not read what it uploads"
        )
    if len(file) > MAX_UPLOAD_FILES:
        raise ApiError(400, "invalid_request", f"at most {MAX_UPLOAD_FILES} files in one upload (sent {len(file)})")
    names = [_safe_name(f.filename or "") for f in file]
    for f, name in zip(file, names, strict=True):
        if Path(name).suffix.lower() not in FORMATS:
            raise ApiError(
                415,
                "unsupported_type",
                f"'{f.filename}': unsupported file type (supported: {', '.join(sorted(FORMATS))})",
            )
    if len(set(names)) < len(names):
        raise ApiError(400, "invalid_request", "two uploaded files have the same name")
    folder = scope_folder(_uploads_root(request), principal.tenant, wanted)  # another scope: another document
    folder.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    try:
        for f, name in zip(file, names, strict=True):
            saved.append(await _save(f, folder / name, limit))
    except ApiError:
        for p in saved:
            p.with_name(p.name + ".part").unlink(missing_ok=True)
        raise
    final = [p.with_name(p.name[: -len(".part")]) for p in saved]
    for part, path in zip(saved, final, strict=True):
        part.replace(path)  # whole files only: a job never sees half an upload
    job_id = "j_" + secrets.token_hex(8)
    await run_in_threadpool(  # a database-backed store must not block the event loop
        state.ws.store.add_job,
        job_id,
        "ingest",
        principal.tenant,
        principal.key_id,
        {"paths": [str(p) for p in final], "groups": wanted},
    )
    state.jobs.submit(job_id)
    doc_ids = [doc_id_for(str(p.resolve())) for p in final]
    request.state.doc_ids = doc_ids
    return {"job_id": job_id, "document_ids": doc_ids, "status": "queued", "status_url": f"/v1/jobs/{job_id}"}


def _safe_name(filename: str) -> str:
    name = safe_name(filename)
    if name is None:
        raise ApiError(400, "invalid_request", "every uploaded file needs a file name with an extension")
    return name


def _create(part: Path) -> BinaryIO:
    """The start-up clean-up removes upload folders left empty for minutes: one may go between
    the upload's mkdir and this open, so the folder is made again once."""
    try:
        return part.open("wb")
    except FileNotFoundError:
        part.parent.mkdir(parents=True, exist_ok=True)
        return part.open("wb")


async def _save(upload: UploadFile, path: Path, limit: int) -> Path:
    part = path.with_name(path.name + ".part")
    size = 0
    with _create(part) as out:
        while block := await upload.read(1 << 20):
            size += len(block)
            if size > limit:
                out.close()
                part.unlink(missing_ok=True)
                raise ApiError(
                    413,
                    "too_large",
                    f"'{upload.filename}' is larger than the limit of {limit // (1024 * 1024)} MB (ingest.max_file_mb)",
                )
            out.write(block)
    return part


@router.get("/jobs/{job_id}", tags=["documents"])
def get_job(job_id: str, request: Request, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    job = state_of(request).ws.store.get_job(job_id)
    visible = job is not None and (
        job.get("key_id") == principal.key_id
        or principal.access.can_read(job["tenant"], job["payload"].get("groups", []))
    )
    if job is None or not visible:  # a job of another group looks like no job at all
        raise ApiError(404, "not_found", f"no job '{job_id}'")
    payload = job.pop("payload")
    job["files"] = [Path(p).name for p in payload["paths"]]
    job["groups"] = payload.get("groups", [])
    return job  # its report's paths are named as uploaded by PublicPathsMiddleware


@router.get("/documents", tags=["documents"])
def list_documents(
    request: Request,
    principal: Principal = Depends(require("read")),
    limit: int = Query(1000, ge=1, le=10_000, description="documents per page"),
    offset: int = Query(0, ge=0, le=2**62, description="documents to skip (by source)"),
) -> dict[str, Any]:
    """The documents this key may read, by source, a page at a time: `next_offset` is null on the last page."""
    ws, access = state_of(request).ws, {"access": principal.access}
    docs = ws.documents(access, limit, offset)
    total = ws.store.count_documents(access)
    more = offset + len(docs) < total
    return {
        "documents": [d.to_dict() for d in docs],
        "total": total,
        "next_offset": offset + len(docs) if more else None,
    }


def _visible(request: Request, doc_id: str, principal: Principal) -> DocumentRecord:
    docs = state_of(request).ws.documents({"access": principal.access, "doc_id": doc_id})
    if not docs:  # invisible and absent look the same: existence is not revealed
        raise ApiError(404, "not_found", f"no document '{doc_id}'")
    request.state.doc_ids = [doc_id]
    return docs[0]


@router.get("/documents/{doc_id}", tags=["documents"])
def get_document(doc_id: str, request: Request, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    return _visible(request, doc_id, principal).to_dict()


@router.delete("/documents/{doc_id}", tags=["documents"])
def delete_document(doc_id: str, request: Request, principal: Principal = Depends(require("write"))) -> dict[str, Any]:
    doc = _visible(request, doc_id, principal)
    state_of(request).ws.delete(doc.doc_id)
    uploads = str(_uploads_root(request)) + "/"
    if doc.source.startswith(uploads):
        Path(doc.source).unlink(missing_ok=True)  # the uploaded bytes go too
    return {"deleted": doc.doc_id, "source": doc.source}


# -- search and ask ------------------------------------------------------------------------------


@router.post("/search", tags=["retrieval"])
async def search(body: SearchBody, request: Request, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    """A search whose query vector is known and whose indexes are built takes a few milliseconds
    of Python: it runs on the event loop, since a hand-off to a worker thread and back costs as
    much. A search that must run the embedding model (or call a remote one), or rebuild an index
    after a write, goes to a worker thread and leaves the loop to the other requests."""
    ws = state_of(request).ws
    remembers = getattr(ws.embedder, "remembers", None)
    with recall_scope(access_scope(user_filters(body.filters, principal))):  # this reader's memory only
        cheap = body.mode == "bm25" or (remembers is not None and remembers(body.query.strip()))
    if cheap and ws.store.indexes_current():
        return _search(body, request, principal)
    return await run_in_threadpool(_search, body, request, principal)


def _search(body: SearchBody, request: Request, principal: Principal) -> dict[str, Any]:
    ws = state_of(request).ws
    with ws.trace("search", {"query": body.query, "k": body.k, "mode": body.mode}, _context(principal)) as t:
        results = ws.search(body.query, body.k, user_filters(body.filters, principal), mode=body.mode)
    request.state.doc_ids = list(dict.fromkeys(r.doc_id for r in results))
    return {"results": [result_json(r) for r in results], "trace_id": t.trace_id if t else None}


@router.post("/ask", tags=["retrieval"], response_model=None)
def ask(
    body: AskBody, request: Request, principal: Principal = Depends(require("read"))
) -> dict[str, Any] | StreamingResponse:
    """Answer with citations; with "stream": true, Server-Sent Events: `delta` events with the
    model's draft as it is written (an extractive answer, made by no model, comes in pieces at
    once), then one `answer` event with the checked answer and its citations, which replaces the
    draft: citations are renumbered and unsupported sentences dropped. A failure before the first
    event is the usual JSON error; after it, an `error` event {"type", "message"}."""
    run = functools.partial(
        state_of(request).ws.ask,
        body.question,
        user_filters(body.filters, principal),
        context=_context(principal),
        history=[Turn(t.role, t.content) for t in body.history],
        agent=body.agent,
        max_steps=body.max_steps,
    )
    if body.stream:
        return _streamed_answer(request, run)
    answer = run()
    request.state.doc_ids = [c.doc_id for c in answer.citations]
    return answer_json(answer)


def _context(principal: Principal) -> CallContext:
    return CallContext(key_id=principal.key_id, tenant=principal.tenant)


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


def _streamed_answer(request: Request, run: Callable[..., Any]) -> StreamingResponse:
    """The ask runs in a thread of its own and hands its draft over a queue. The response starts
    with its first event, so that a question refused before any text (blocked, invalid, no model
    answering) still gets its HTTP status. A client that goes away stops the model's stream."""
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    aborts = StreamAborts()

    def work() -> None:
        try:
            with aborts.active():
                events.put(("answer", run(on_text=lambda piece: events.put(("delta", piece)))))
        except Exception as exc:  # noqa: BLE001  handed to the response: raised there, or sent as an error event
            events.put(("error", exc))

    threading.Thread(target=contextvars.copy_context().run, args=(work,), name="ask-stream", daemon=True).start()
    first = events.get()
    if first[0] == "error":
        raise first[1]
    return StreamingResponse(
        relay(request, _sse_answer(request, first, events), aborts.abort), media_type="text/event-stream"
    )


def _event(kind: str, payload: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(payload)}\n\n"


def _sse_answer(request: Request, first: tuple[str, Any], events: queue.Queue[tuple[str, Any]]) -> Iterator[str]:
    kind, value, drafted = *first, False
    while True:
        if kind == "delta":
            drafted = True
            yield _event("delta", {"text": value})
        elif kind == "answer":
            request.state.doc_ids = [c.doc_id for c in value.citations]
            data = answer_json(value)
            for piece in () if drafted else pieces(data["answer"]):
                yield _event("delta", {"text": piece})
            yield _event("answer", data)
            return
        else:
            yield _event("error", {"type": type(value).__name__, "message": str(value)})
            return
        kind, value = events.get()


# -- evaluation runs -------------------------------------------------------------------------------


@router.get("/eval/runs", tags=["evaluation"])
def eval_runs(request: Request, principal: Principal = Depends(require("admin"))) -> dict[str, Any]:
    """The runs of the key's tenant: a run's queries and configuration are its tenant's business."""
    return {"runs": state_of(request).ws.store.list_eval_runs(tenant=principal.tenant)}


@router.get("/eval/runs/{run_id}", tags=["evaluation"])
def eval_run(run_id: str, request: Request, principal: Principal = Depends(require("admin"))) -> dict[str, Any]:
    run = state_of(request).ws.store.get_eval_run(run_id, tenant=principal.tenant)
    if run is None:  # another tenant's run and no run look the same
        raise ApiError(404, "not_found", f"no evaluation run '{run_id}'")
    return run
