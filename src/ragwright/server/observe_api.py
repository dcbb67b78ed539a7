"""Traces and feedback over HTTP. A key sees the traces it made (an admin key: its tenant's),
since a trace holds what that key was allowed to read. Feedback is committed before the
response is sent."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from ..feedback.record import record_feedback
from .auth import Principal
from .deps import ApiError, require, state_of

router = APIRouter(tags=["observability"])


class Mark(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "relevant": "no" is refused, not read as False
    chunk_id: str | None = None
    doc_id: str | None = None
    relevant: bool


class FeedbackBody(BaseModel):
    """Strict: JSON `true` is not the rating 1, nor "4" the rating 4 (lax parsing stored both)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    trace_id: str = Field(min_length=1)
    rating: Literal["up", "down"] | Annotated[int, Field(ge=1, le=5)] | None = Field(
        None, description='"up", "down", or 1 to 5'
    )
    correction: str | None = Field(None, max_length=20_000)
    marks: list[Mark] = Field(default_factory=list, max_length=200)


def visible_trace(request: Request, trace_id: str, principal: Principal) -> dict[str, Any]:
    trace = state_of(request).ws.store.get_trace(trace_id)
    if (
        trace is None
        or trace.get("tenant") != principal.tenant
        or (trace.get("key_id") != principal.key_id and "admin" not in principal.scopes)
    ):
        raise ApiError(404, "not_found", f"no trace '{trace_id}'")
    return trace


@router.get("/traces")
def list_traces(request: Request, limit: int = 50, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    if not 1 <= limit <= 1000:
        raise ApiError(422, "invalid_request", "limit must be between 1 and 1000")
    key = None if "admin" in principal.scopes else principal.key_id
    return {"traces": state_of(request).ws.store.list_traces(tenant=principal.tenant, key_id=key, limit=limit)}


@router.get("/traces/{trace_id}")
def get_trace(trace_id: str, request: Request, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    return visible_trace(request, trace_id, principal)


@router.post("/feedback", status_code=201)
def feedback(body: FeedbackBody, request: Request, principal: Principal = Depends(require("read"))) -> dict[str, Any]:
    """Rate an answer, correct it, or mark chunks relevant / not relevant; stored before the reply.
    A mark may name only a chunk or document this key can read: any other id, stored or not, gets
    the same 422."""
    trace = visible_trace(request, body.trace_id, principal)
    try:
        feedback_id = record_feedback(
            state_of(request).ws.store,
            trace,
            key_id=principal.key_id,
            tenant=principal.tenant,
            rating=body.rating,
            correction=body.correction,
            marks=[m.model_dump() for m in body.marks],
            access=principal.access,
        )
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from exc
    return {"feedback_id": feedback_id, "trace_id": body.trace_id}
