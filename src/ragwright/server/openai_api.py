"""`POST /v1/chat/completions`, as OpenAI clients speak it. `model` names a gateway route or
model (plain chat), or a RAG collection, `rag:default`, whose answer comes with citations: in the
message text (a Sources list) and in an extra `citations` field."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, Iterator, Literal, Optional

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..errors import AllModelsFailed, ConfigError, ProviderError, StreamInterrupted
from ..models.types import CallContext, ChatMessage
from .app import ApiError, require, state_of
from .auth import Principal
from .routes import answer_json, pieces

router = APIRouter(tags=["openai"])
COLLECTIONS = ("default",)


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: Optional[str | list[dict[str, Any]]] = None


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="allow")  # OpenAI clients send more fields (n, user, seed...)
    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: Optional[int] = Field(None, ge=1, le=100_000)
    max_completion_tokens: Optional[int] = Field(None, ge=1, le=100_000)


def _text(content: Any) -> str:
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


@router.post("/chat/completions", response_model=None)
def chat_completions(body: ChatBody, request: Request,
                     principal: Principal = Depends(require("read"))) -> dict[str, Any] | StreamingResponse:
    messages = [ChatMessage("system" if m.role == "developer" else m.role, _text(m.content)) for m in body.messages]
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    if body.model.startswith("rag:"):
        return _rag(body, messages, request, principal, completion_id)
    context = CallContext(key_id=principal.key_id, tenant=principal.tenant)
    gateway = state_of(request).gateway
    max_tokens = body.max_completion_tokens or body.max_tokens or 512
    try:
        if body.stream:
            stream = gateway.stream(messages, model=body.model, temperature=body.temperature, max_tokens=max_tokens,
                                    context=context)
            return StreamingResponse(_sse_chat(stream, body.model, completion_id), media_type="text/event-stream")
        result = gateway.chat(messages, model=body.model, temperature=body.temperature, max_tokens=max_tokens,
                              context=context)
    except ConfigError as exc:
        raise ApiError(404, "model_not_found", str(exc)) from exc
    except (AllModelsFailed, ProviderError) as exc:
        raise ApiError(502, "upstream_error", str(exc)) from exc
    return _completion(completion_id, body.model, result.text, result.finish_reason or "stop",
                       {"prompt_tokens": result.usage.input_tokens, "completion_tokens": result.usage.output_tokens,
                        "total_tokens": result.usage.input_tokens + result.usage.output_tokens})


def _rag(body: ChatBody, messages: list[ChatMessage], request: Request, principal: Principal,
         completion_id: str) -> dict[str, Any] | StreamingResponse:
    collection = body.model[4:]
    if collection not in COLLECTIONS:
        raise ApiError(404, "model_not_found", f"no RAG collection '{collection}' (available: "
                                               f"{', '.join('rag:' + c for c in COLLECTIONS)})")
    question = next((m.content for m in reversed(messages) if m.role == "user" and m.content.strip()), "")
    if not question:
        raise ApiError(400, "invalid_request", "a rag: model needs a user message with the question")
    from .routes import user_filters

    answer = state_of(request).ws.ask(question, user_filters(None, principal),
                                      context=CallContext(key_id=principal.key_id, tenant=principal.tenant))
    request.state.doc_ids = [c.doc_id for c in answer.citations]
    data = answer_json(request, answer)
    text = data["answer"]
    if data["citations"]:
        text += "\n\nSources:\n" + "\n".join(f"[{c['n']}] {c['location']}" for c in data["citations"])
    extra = {"citations": data["citations"], "abstained": data["abstained"]}
    if body.stream:
        return StreamingResponse(_sse_text(text, body.model, completion_id, extra), media_type="text/event-stream")
    out = _completion(completion_id, body.model, text, "stop", {"prompt_tokens": 0, "completion_tokens": 0,
                                                                "total_tokens": 0})
    out["choices"][0]["message"]["citations"] = data["citations"]
    return {**out, **extra}


def _completion(cid: str, model: str, text: str, finish: str, usage: dict[str, int]) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": usage}


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    payload = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return f"data: {json.dumps(payload)}\n\n"


def _sse_text(text: str, model: str, cid: str, extra: dict[str, Any]) -> Iterator[str]:
    yield _chunk(cid, model, {"role": "assistant", "content": ""})
    for piece in pieces(text):
        yield _chunk(cid, model, {"content": piece})
    yield _chunk(cid, model, {}, "stop", **extra)
    yield "data: [DONE]\n\n"


def _sse_chat(stream: Any, model: str, cid: str) -> Iterator[str]:
    yield _chunk(cid, model, {"role": "assistant", "content": ""})
    try:
        for piece in stream:
            yield _chunk(cid, model, {"content": piece})
    except StreamInterrupted as exc:  # the client sees the text so far, then an error event; no [DONE]
        yield f"data: {json.dumps({'error': {'type': 'stream_interrupted', 'message': str(exc)}})}\n\n"
        return
    except (AllModelsFailed, ProviderError) as exc:
        yield f"data: {json.dumps({'error': {'type': 'upstream_error', 'message': str(exc)}})}\n\n"
        return
    result = stream.result
    usage = {"prompt_tokens": result.usage.input_tokens, "completion_tokens": result.usage.output_tokens,
             "total_tokens": result.usage.input_tokens + result.usage.output_tokens}
    yield _chunk(cid, model, {}, result.finish_reason or "stop", usage=usage)
    yield "data: [DONE]\n\n"
