"""REST endpoints under /v1: documents (upload as background jobs) and jobs (documents_api.py),
search, ask (optionally streamed over SSE: ask_stream.py), evaluation runs. Every read goes through
the caller's access: documents of its tenant that have no groups or share one of its groups,
filtered inside retrieval. answer_json, pieces and relay stay importable from here."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from ..generate.followup import Turn
from ..models.embedding import recall_scope
from ..models.types import CallContext
from ..observe import collecting_sent
from ..retrieve.retriever import MAX_QUERY_CHARS, access_scope
from ..store.glob_slots import GLOB_SLOTS, GLOB_SLOTS_PER_TENANT, holds_glob
from ..store.sql import ShownSource, check_filter_bounds
from ..types import Answer, SearchResult
from .ask_stream import answer_json as answer_json
from .ask_stream import pieces as pieces
from .ask_stream import relay as relay
from .ask_stream import streamed_answer, touched
from .auth import Principal
from .deps import ApiError, require, state_of
from .documents_api import router as documents_router

router = APIRouter()
router.include_router(documents_router)  # /documents and /jobs, first as before
SEARCH_FIELDS = ("doc_id", "chunk_id", "source", "score", "text", "title", "heading_path", "page", "location")
FilterValue = str | int | float | bool | list[str | int | float | bool]


def _bounded(filters: Any) -> Any:
    """The store's bounds (store/sql.py), checked before the types: a 422 that names the limit."""
    if isinstance(filters, dict):
        check_filter_bounds(filters)
    return filters


Filters = Annotated[dict[str, FilterValue], BeforeValidator(_bounded)]


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
    filters: Filters | None = None


class HistoryTurn(_Body):
    role: Literal["user", "assistant"]
    content: str = Field(max_length=20_000)


class AskBody(_Body):
    question: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="at most answer.max_question_chars characters (4,000 unless lowered)",
    )
    filters: Filters | None = None
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


def user_filters(filters: dict[str, Any] | None, principal: Principal, data_dir: Path | None = None) -> dict[str, Any]:
    """The caller's filters plus its access; it may narrow what it sees, never widen it. With the
    data dir, `source` is matched against the source as responses show it (store.sql.ShownSource):
    a pattern matched against the server path would spell that path out."""
    out = dict(filters or {})
    if "access" in out or "tenant" in out:
        raise ApiError(400, "invalid_request", "filters may not name 'access' or 'tenant': they come from your key")
    out["access"] = principal.access
    if data_dir is not None and "source" in out:
        out["source"] = ShownSource.of(data_dir, out["source"])
    return out


def result_json(r: SearchResult) -> dict[str, Any]:
    data = r.to_dict()
    return {k: data[k] for k in SEARCH_FIELDS}


# -- search and ask ------------------------------------------------------------------------------


@router.post("/search", tags=["retrieval"])
async def search(body: SearchBody, request: Request, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    """A search whose query vector is known and whose indexes are built takes a few milliseconds
    of Python: it runs on the event loop, since a hand-off to a worker thread and back costs as
    much. A search that must run the embedding model (or call a remote one), or rebuild an index
    after a write, goes to a worker thread and leaves the loop to the other requests ([server] search_threads
    at once, the rest in arrival order: ServerState.in_search_slot). A `source` pattern is matched
    against every document the key may read (bounded: store/globs.py, but it grows with the
    tenant): such a search never runs on the loop, it goes to one of a few worker threads of its
    own (_glob_limiter), each read within [store] statement_timeout_s."""
    ws = state_of(request).ws
    remembers = getattr(ws.embedder, "remembers", None)
    filters = user_filters(body.filters, principal, ws.settings.data_dir)
    with recall_scope(access_scope(filters)):  # this reader's memory only
        cheap = body.mode == "bm25" or (remembers is not None and remembers(body.query.strip()))
    work = functools.partial(_search, body, request, principal)
    if cheap and ws.store.indexes_current():
        if holds_glob(body.filters):
            async with _glob_limiter(request, principal.tenant):  # a tenant's share, waited for here
                return await anyio.to_thread.run_sync(work, limiter=_glob_limiter(request))
        return work()
    return await state_of(request).in_search_slot(work)


def _glob_limiter(request: Request, tenant: str | None = None) -> anyio.CapacityLimiter:
    """The app's own GLOB_SLOTS worker threads for searches that match a `source` pattern: the
    rest wait here, on the loop, not in the thread pool that every sync endpoint shares (review
    15b: 44 of them at once took it, and another tenant's listing waited 16 s). In the thread,
    a SQLite store takes one of the process's slots (store/glob_slots.py), shared with asks and MCP.
    With `tenant`: that tenant's share of them (GLOB_SLOTS_PER_TENANT), so that one tenant's
    searches queue for their share and never find the store's slots all taken by themselves."""
    state = request.app.state
    if tenant is not None:
        shares: dict[str, anyio.CapacityLimiter] | None = getattr(state, "glob_shares", None)
        if shares is None:
            shares = state.glob_shares = {}
        return shares.setdefault(tenant, anyio.CapacityLimiter(GLOB_SLOTS_PER_TENANT))
    limiter: anyio.CapacityLimiter | None = getattr(state, "glob_limiter", None)
    if limiter is None:
        limiter = state.glob_limiter = anyio.CapacityLimiter(GLOB_SLOTS)
    return limiter


def _search(body: SearchBody, request: Request, principal: Principal) -> dict[str, Any]:
    ws = state_of(request).ws
    with ws.trace("search", {"query": body.query, "k": body.k, "mode": body.mode}, _context(principal)) as t:
        filters = user_filters(body.filters, principal, ws.settings.data_dir)
        results = ws.search(body.query, body.k, filters, mode=body.mode)
    request.state.doc_ids = list(dict.fromkeys(r.doc_id for r in results))
    return {"results": [result_json(r) for r in results], "trace_id": t.trace_id if t else None}


@router.post("/ask", tags=["retrieval"], response_model=None)
async def ask(
    body: AskBody, request: Request, principal: Principal = Depends(require("read"))
) -> dict[str, Any] | StreamingResponse:
    """Answer with citations; with "stream": true, Server-Sent Events: `delta` events with the
    model's draft as it is written (an extractive answer, made by no model, comes in pieces at
    once), then one `answer` event with the checked answer and its citations, which replaces the
    draft: citations are renumbered and unsupported sentences dropped. A failure before the first
    event is the usual JSON error; after it, an `error` event {"type", "message"}.

    An ask runs on a thread of the asks' own, once its tenant holds one of [server] ask_threads
    slots (ask_slots.py): waited for on the loop, 503 busy after [server] ask_wait_s."""
    run = functools.partial(
        state_of(request).ws.ask,
        body.question,
        user_filters(body.filters, principal, state_of(request).ws.settings.data_dir),
        context=_context(principal),
        history=[Turn(t.role, t.content) for t in body.history],
        agent=body.agent,
        max_steps=body.max_steps,
    )
    asks = state_of(request).asks
    if body.stream:
        return await streamed_answer(request, run, asks, principal.tenant)

    def work() -> tuple[Answer, list[str]]:
        with collecting_sent() as sent:
            answer = run()
        return answer, touched(answer, sent)

    answer, request.state.doc_ids = await asks.run(principal.tenant, work)
    return answer_json(answer)


def _context(principal: Principal) -> CallContext:
    return CallContext.of_key(principal.key_id, principal.access)


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
