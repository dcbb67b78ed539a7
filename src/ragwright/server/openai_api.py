"""`POST /v1/chat/completions` and `GET /v1/models`, as OpenAI clients speak them. `model` names a
gateway route or model (plain chat), or a RAG collection, `rag:default`, whose answer comes with
citations: in the message text (a Sources list) and in an extra `citations` field, beside `guard`
(what the injection policy found, as /v1/ask reports it). A `rag:` model reads the conversation:
the last user message is made standalone from the earlier ones before retrieval
(generate/followup.py), and `rewritten_question` says what was searched for. A gateway route or
model takes `tools`, `tool_choice` and `parallel_tool_calls` and answers with `tool_calls`,
streamed or not (openai_tools.py)."""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..config import Settings
from ..errors import AllModelsFailed, ConfigError, ProviderError, StreamInterrupted, ToolCallError
from ..generate.followup import Turn
from ..ingest.chunking import approx_token_count
from ..models.embedding import LocalMiniLM
from ..models.metering import metered
from ..models.screen import SCREEN_MESSAGES, screen_client
from ..models.types import CallContext, ChatMessage, Usage
from ..observe import collecting_sent, start_trace
from ..observe.tracing import Span, Trace, new_trace_id
from ..types import Answer
from ..workspace import Workspace
from .ask_slots import Lease
from .ask_stream import LeasedStream, touched
from .auth import Principal
from .deps import ApiError, require, state_of
from .openai_tools import call_deltas, chat_messages, error_event, finish_reason, reply_message, requested_tools
from .routes import answer_json, pieces, relay

router = APIRouter(tags=["openai"])
COLLECTIONS = ("default",)
AGENT = "agent"  # rag:agent: the [answer] model searches the default collection as often as it needs
MAX_MESSAGES = SCREEN_MESSAGES  # a request's messages: each user turn and tool result may be screened
CREATED = int(time.time())  # `created` of the listed models: when this server process started


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="allow")  # OpenAI clients send more fields (n, user, seed...)
    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=100_000)
    max_completion_tokens: int | None = Field(None, ge=1, le=100_000)
    tools: list[Any] | None = Field(None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None  # forwarded to the provider; False: at most one call per reply


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatBody, request: Request, principal: Principal = Depends(require("read"))
) -> dict[str, Any] | StreamingResponse:
    """A `rag:` model is an ask: it takes one of its tenant's ask slots (ask_slots.py) and runs on
    the asks' threads. A gateway route or model is a chat: it takes one of its tenant's chat slots
    ([server] chat_threads, the same mechanism) and runs on the chats' threads, not the pool the
    other endpoints share (40 slow chats took it all); a streamed chat holds its slot until its
    response has ended, however it ends (the client leaving, a stall, an error)."""
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    if body.model.startswith("rag:"):
        if body.tools:
            raise ApiError(400, "invalid_request", "a rag: model takes no tools: name a gateway route or model")
        messages = chat_messages(body.messages)
        requested_tools(None, body.tool_choice)  # a tool_choice that names a tool is still a 400
        return await _rag(body, messages, request, principal, completion_id)
    chats = state_of(request).chats
    await chats.take(principal.tenant)
    lease, limiter = chats.lease(principal.tenant, ("response",)), chats.limiter()
    try:
        out = await anyio.to_thread.run_sync(
            _gateway_chat, body, request, principal, completion_id, lease, limiter, limiter=limiter
        )
    except BaseException:
        lease.done("response")
        raise
    if not isinstance(out, StreamingResponse):  # a streamed one gives it back when its response ends
        lease.done("response")
    return out


def _gateway_chat(
    body: ChatBody,
    request: Request,
    principal: Principal,
    completion_id: str,
    lease: Lease,
    limiter: anyio.CapacityLimiter,
) -> dict[str, Any] | StreamingResponse:
    """On a chat thread, holding a chat slot (`lease`); a stream's reads and drain run on `limiter`."""
    messages = chat_messages(body.messages)
    tools, tool_choice = requested_tools(body.tools, body.tool_choice)
    context = CallContext.of_key(principal.key_id, principal.access)
    state = state_of(request)
    max_tokens = body.max_completion_tokens or body.max_tokens or 512
    asked: dict[str, Any] = {
        "model": body.model,
        "temperature": body.temperature,
        "max_tokens": max_tokens,
        "context": context,
        "tools": tools,
        "tool_choice": tool_choice,
        "parallel_tool_calls": body.parallel_tool_calls,
    }
    try:
        if body.stream:  # the stream runs after this handler returns: its trace is made from its record
            started = time.time()
            screening: list[Trace] = []  # the route's injection verdicts, made here, for that trace
            with start_trace("chat", input={}, sink=screening.append):
                screen_client(state.ws.settings, state.ws.gateway.guards, body.model, messages, tools)
                stream = state.ws.gateway.stream(messages, **asked)
            verdicts = [s for t in screening for s in t.spans if s.name == "guard.injection"]
            on_end = (
                (
                    lambda result, error: _stream_trace(
                        state.ws, context, body.model, messages, started, result, error, verdicts
                    )
                )
                if state.ws.settings.observe.traces
                else None
            )
            events = _sse_chat(stream, body.model, completion_id, on_end)
            # the role, then the first text: a budget that refuses the call raises here, a 429 and not
            # an error after a 200 (nothing is sent before the first model is reserved for)
            head = list(itertools.islice(events, 2))
            relayed = relay(request, itertools.chain(head, events), stream.abort, limiter)
            return LeasedStream(relayed, stream.abort, lease, media_type="text/event-stream")
        with state.ws.trace(
            "chat", {"model": body.model, "messages": [m.content for m in messages][-4:]}, context
        ) as t:
            screen_client(state.ws.settings, state.ws.gateway.guards, body.model, messages, tools)  # all a key wrote
            result = state.ws.gateway.chat(messages, **asked)
            if t is not None:
                t.output = {"text": result.text, "model": result.model, "tool_calls": len(result.tool_calls)}
    except ConfigError as exc:
        raise ApiError(404, "model_not_found", str(exc)) from exc
    except ToolCallError as exc:
        raise ApiError(502, "invalid_tool_call", str(exc)) from exc
    except (AllModelsFailed, ProviderError) as exc:
        raise ApiError(502, "upstream_error", str(exc)) from exc
    out = _completion(
        completion_id,
        body.model,
        result.text,
        finish_reason(result.finish_reason),
        {
            "prompt_tokens": result.usage.input_tokens,
            "completion_tokens": result.usage.output_tokens,
            "total_tokens": result.usage.input_tokens + result.usage.output_tokens,
        },
    )
    out["choices"][0]["message"] = reply_message(result.text, result.tool_calls)
    return {**out, "trace_id": t.trace_id if t else None}


async def _rag(
    body: ChatBody, messages: list[ChatMessage], request: Request, principal: Principal, completion_id: str
) -> dict[str, Any] | StreamingResponse:
    collection = body.model[4:]
    if collection not in (*COLLECTIONS, AGENT):
        raise ApiError(
            404,
            "model_not_found",
            f"no RAG collection '{collection}' (available: {', '.join('rag:' + c for c in (*COLLECTIONS, AGENT))})",
        )
    question, history = _conversation(messages)
    if not question:
        raise ApiError(400, "invalid_request", "a rag: model needs a user message with the question")
    from .routes import user_filters

    ws = state_of(request).ws

    def work() -> tuple[Answer, list[str], dict[str, int]]:
        with _metered(ws) as calls, collecting_sent() as sent:
            answer = ws.ask(
                question,
                user_filters(None, principal),
                history=history,
                context=CallContext.of_key(principal.key_id, principal.access),
                agent=collection == AGENT,
            )
        return answer, touched(answer, sent), _usage(ws, answer, calls)

    answer, request.state.doc_ids, usage = await state_of(request).asks.run(principal.tenant, work)
    data = answer_json(answer)
    text = data["answer"]
    if data["citations"]:
        text += "\n\nSources:\n" + "\n".join(f"[{c['n']}] {c['location']}" for c in data["citations"])
    # guard: what the injection policy flagged or dropped, as /v1/ask reports it ({} when the policy is off)
    extra = {
        "citations": data["citations"],
        "abstained": data["abstained"],
        "trace_id": data["trace_id"],
        "guard": data["guard"],
        "rewritten_question": answer.question,
    }
    if answer.agent:  # rag:agent: how the loop ended, what each step searched for
        extra["agent"] = answer.agent
    if body.stream:
        return StreamingResponse(
            _sse_text(text, body.model, completion_id, {**extra, "usage": usage}), media_type="text/event-stream"
        )
    out = _completion(completion_id, body.model, text, "stop", usage)
    out["choices"][0]["message"]["citations"] = data["citations"]
    return {**out, **extra}


def _conversation(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    """The last user message, and the user and assistant messages before it (system and tool
    messages say nothing about what the user is asking about)."""
    last = next(
        (i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user" and messages[i].content.strip()),
        None,
    )
    if last is None:
        return "", []
    history = [
        Turn("user" if m.role == "user" else "assistant", m.content)
        for m in messages[:last]
        if m.role in ("user", "assistant") and m.content.strip()
    ]
    return messages[last].content, history


# -- usage of rag: answers -----------------------------------------------------------------------------


@contextmanager
def _metered(ws: Workspace) -> Iterator[list[Usage]]:
    """The usage of every model call inside (the rewrite, the answer, an agent's turns), from the
    workspace's gateway's call records, whether traces are kept or not (models/metering.py)."""
    if not ws.settings.answer.model:  # without one, no rag: answer calls a model
        yield []
        return
    with metered(ws.gateway) as calls:
        yield calls


def _usage(ws: Workspace, answer: Answer, calls: list[Usage]) -> dict[str, int]:
    """What the model calls used, as their records say; an answer no model wrote adds its question
    and the passages it cites as prompt tokens and its text as completion tokens, counted with the
    embedder's tokenizer (nothing is billed for it: it says how much text went in and came out)."""
    prompt = sum(u.input_tokens for u in calls)
    completion = sum(u.output_tokens for u in calls)
    if answer.mode not in ("generated", "agent"):  # a model wrote it: its calls' records hold the usage
        count = ws.embedder.count_tokens if isinstance(ws.embedder, LocalMiniLM) else approx_token_count
        passages = list({c.chunk_id: c.text for c in answer.citations}.values())
        counts = count([answer.question, *passages, answer.answer])
        prompt, completion = prompt + sum(counts[:-1]), completion + counts[-1]
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# -- GET /v1/models --------------------------------------------------------------------------------------


@router.get("/models")
def list_models(request: Request, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    """The models a chat completion may name: the gateway's routes and models, and the RAG collections."""
    return {"object": "list", "data": _models(state_of(request).ws.settings)}


@router.get("/models/{model_id:path}")
def get_model(model_id: str, request: Request, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    found = next((m for m in _models(state_of(request).ws.settings) if m["id"] == model_id), None)
    if found is None:
        raise ApiError(404, "model_not_found", f"no model '{model_id}' (GET /v1/models lists them)")
    return found


def _models(settings: Settings) -> list[dict[str, Any]]:
    """Routes first, then models (owned by their provider), then `rag:` collections; never a
    model's address or key."""

    def entry(model_id: str, owner: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": CREATED, "owned_by": owner}

    return (
        [entry(name, "ragwright") for name in settings.routes]
        + [entry(name, spec.provider) for name, spec in settings.models.items() if name not in settings.routes]
        + [entry("rag:" + c, "ragwright") for c in COLLECTIONS]
        + ([entry("rag:" + AGENT, "ragwright")] if settings.answer.model else [])
    )


def _completion(cid: str, model: str, text: str, finish: str, usage: dict[str, int]) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": usage,
    }


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    payload = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(payload)}\n\n"


def _sse_text(text: str, model: str, cid: str, extra: dict[str, Any]) -> Iterator[str]:
    yield _chunk(cid, model, {"role": "assistant", "content": ""})
    for piece in pieces(text):
        yield _chunk(cid, model, {"content": piece})
    yield _chunk(cid, model, {}, "stop", **extra)
    yield "data: [DONE]\n\n"


def _sse_chat(stream: Any, model: str, cid: str, on_end: Any = None) -> Iterator[str]:
    yield _chunk(cid, model, {"role": "assistant", "content": ""})
    try:
        for piece in stream:
            yield _chunk(cid, model, {"content": piece})
    except StreamInterrupted as exc:  # the client sees the text so far, then an error event; no [DONE]
        if on_end:
            on_end(stream.result, str(exc))
        yield f"data: {json.dumps({'error': {'type': 'stream_interrupted', 'message': str(exc)}})}\n\n"
        return
    except (AllModelsFailed, ProviderError, ToolCallError) as exc:
        if on_end:
            on_end(None, str(exc))
        yield error_event("invalid_tool_call" if isinstance(exc, ToolCallError) else "upstream_error", str(exc))
        return
    result = stream.result
    if on_end:
        on_end(result, None)
    for delta in call_deltas(result.tool_calls):
        yield _chunk(cid, model, delta)
    usage = {
        "prompt_tokens": result.usage.input_tokens,
        "completion_tokens": result.usage.output_tokens,
        "total_tokens": result.usage.input_tokens + result.usage.output_tokens,
    }
    yield _chunk(cid, model, {}, finish_reason(result.finish_reason), usage=usage)
    yield "data: [DONE]\n\n"


def _stream_trace(
    ws: Any,
    context: CallContext,
    model: str,
    messages: list[ChatMessage],
    started: float,
    result: Any,
    error: str | None,
    verdicts: list[Span],
) -> None:
    """A streamed chat's trace, built from its result once the stream has ended (the stream runs
    outside the handler, where no trace is active), with the injection verdicts made before it."""

    trace = Trace(
        new_trace_id(),
        "chat",
        started,
        {"model": model, "stream": True, "messages": [m.content for m in messages][-4:]},
        key_id=context.key_id,
        tenant=context.tenant,
        duration_ms=(time.time() - started) * 1000,
        status="error" if error else "ok",
        error=error,
    )
    call = Span(
        "s" + secrets.token_hex(6), None, "model.call", started, trace.duration_ms, {"route": model, "stream": True}
    )
    trace.spans += [*verdicts, call]
    if result is not None:
        trace.output = {
            "text": result.text,
            "model": result.model,
            "incomplete": result.incomplete,
            "tool_calls": [c.to_openai() for c in result.tool_calls],
        }
        trace.cost_usd, trace.input_tokens, trace.output_tokens = (
            result.cost_usd,
            result.usage.input_tokens,
            result.usage.output_tokens,
        )
        call.attributes.update(
            model=result.model,
            cost_usd=result.cost_usd,
            input_tokens=result.usage.input_tokens,
            output_tokens=result.usage.output_tokens,
        )
        for a in result.attempts:
            trace.spans.append(
                Span(
                    "s" + secrets.token_hex(6),
                    call.span_id,
                    "model.attempt",
                    started,
                    a.latency_ms,
                    {"model": a.model, "status": a.status, "error": a.error},
                    "error" if a.status == "error" else "ok",
                )
            )
    ws.store.save_trace(trace)
