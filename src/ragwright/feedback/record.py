"""Feedback on a traced request: a rating (up/down or 1-5), a correction, and relevant / not
relevant marks on chunks or documents. It copies the trace's query and cited documents, so it
stays usable as evaluation data after the trace itself has expired."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any, Protocol

from ..store.contract import DocumentStore, FeedbackStore
from ..types import Access


class FeedbackRecorder(DocumentStore, FeedbackStore, Protocol):
    """What recording feedback needs of the store: the marked chunks and documents, and a place to write."""


def trace_query(trace: dict[str, Any]) -> str:
    data = trace.get("input") or {}
    return str(data.get("question") or data.get("query") or "")


def trace_cited(trace: dict[str, Any]) -> list[str]:
    output = trace.get("output") or {}
    return list(dict.fromkeys(c["doc_id"] for c in output.get("citations") or [] if c.get("doc_id")))


def rating_value(rating: Any) -> tuple[float | None, str | None]:
    if rating is None:
        return None, None
    if rating in ("up", "down"):
        return (1.0 if rating == "up" else 0.0), "updown"
    if isinstance(rating, bool) or not isinstance(rating, (int, float)) or not 1 <= rating <= 5:
        raise ValueError(f"a rating is 'up', 'down' or a number from 1 to 5, not {rating!r}")
    return float(rating), "1-5"


def resolve_marks(
    store: FeedbackRecorder, marks: Sequence[dict[str, Any]], access: Access | None = None
) -> list[dict[str, Any]]:
    """Each mark names a chunk or a document; keep both ids (qrels are per document). Only what
    `access` may read resolves (None: the operator, every document), and an id that is not there
    is refused in the same words as one that is there but not readable: a mark must not confirm
    that another tenant's or group's document exists."""
    if any(not m.get("chunk_id") and not m.get("doc_id") for m in marks):
        raise ValueError("a relevance mark needs a chunk_id or a doc_id")
    chunk_ids = [m["chunk_id"] for m in marks if m.get("chunk_id")]
    chunks = store.get_chunks(chunk_ids) if chunk_ids else {}

    def doc_of(mark: dict[str, Any]) -> str | None:
        if not mark.get("chunk_id"):
            return str(mark["doc_id"])
        found = chunks.get(mark["chunk_id"])
        return found.chunk.doc_id if found is not None else None

    docs = [doc_of(m) for m in marks]
    readable = _readable(store, [d for d in docs if d], access)
    out = []
    for m, doc_id in zip(marks, docs, strict=True):
        if doc_id not in readable:
            what = f"chunk '{m['chunk_id']}'" if m.get("chunk_id") else f"document '{m['doc_id']}'"
            raise ValueError(f"no {what} among the documents you may read")
        out.append({"chunk_id": m.get("chunk_id"), "doc_id": doc_id, "relevant": bool(m["relevant"])})
    return out


def _readable(store: FeedbackRecorder, doc_ids: Sequence[str], access: Access | None) -> set[str]:
    """The ids among `doc_ids` that are stored and that `access` may read, in one query."""
    if not doc_ids:
        return set()
    filters: dict[str, Any] = {"doc_id": list(dict.fromkeys(doc_ids))}
    if access is not None:
        filters["access"] = access
    return {d.doc_id for d in store.list_documents(filters)}


def record_feedback(
    store: FeedbackRecorder,
    trace: dict[str, Any],
    *,
    key_id: str | None,
    tenant: str | None,
    rating: Any = None,
    correction: str | None = None,
    marks: Sequence[dict[str, Any]] = (),
    access: Access | None = None,
) -> str:
    """Validate and store feedback on `trace`; durable when this returns. Returns its id. Marks
    resolve only documents `access` may read (None: any stored document)."""
    if rating is None and not (correction or "").strip() and not marks:
        raise ValueError("feedback needs a rating, a correction or relevance marks")
    value, scale = rating_value(rating)
    feedback_id = "f_" + secrets.token_hex(8)
    store.save_feedback(
        feedback_id,
        trace["trace_id"],
        key_id=key_id,
        tenant=tenant,
        query=trace_query(trace),
        rating=value,
        rating_scale=scale,
        correction=(correction or "").strip() or None,
        marks=resolve_marks(store, marks, access),
        cited=trace_cited(trace),
    )
    return feedback_id
