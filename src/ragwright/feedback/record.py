"""Feedback on a traced request: a rating (up/down or 1-5), a correction, and relevant / not
relevant marks on chunks or documents. It copies the trace's query and cited documents, so it
stays usable as evaluation data after the trace itself has expired."""

from __future__ import annotations

import secrets
from typing import Any, Sequence


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


def resolve_marks(store: Any, marks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each mark names a chunk or a document; keep both ids (qrels are per document)."""
    chunk_ids = [m["chunk_id"] for m in marks if m.get("chunk_id")]
    chunks = store.get_chunks(chunk_ids) if chunk_ids else {}
    out = []
    for m in marks:
        if not m.get("chunk_id") and not m.get("doc_id"):
            raise ValueError("a relevance mark needs a chunk_id or a doc_id")
        doc_id = m.get("doc_id")
        if m.get("chunk_id"):
            found = chunks.get(m["chunk_id"])
            if found is None:
                raise ValueError(f"no chunk '{m['chunk_id']}' in the store")
            doc_id = found.chunk.doc_id
        out.append({"chunk_id": m.get("chunk_id"), "doc_id": doc_id, "relevant": bool(m["relevant"])})
    return out


def record_feedback(store: Any, trace: dict[str, Any], *, key_id: str | None, tenant: str | None,
                    rating: Any = None, correction: str | None = None,
                    marks: Sequence[dict[str, Any]] = ()) -> str:
    """Validate and store feedback on `trace`; durable when this returns. Returns its id."""
    if rating is None and not (correction or "").strip() and not marks:
        raise ValueError("feedback needs a rating, a correction or relevance marks")
    value, scale = rating_value(rating)
    feedback_id = "f_" + secrets.token_hex(8)
    store.save_feedback(feedback_id, trace["trace_id"], key_id=key_id, tenant=tenant, query=trace_query(trace),
                        rating=value, rating_scale=scale, correction=(correction or "").strip() or None,
                        marks=resolve_marks(store, marks), cited=trace_cited(trace))
    return feedback_id
