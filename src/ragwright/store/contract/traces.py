"""Traces: one JSON document per request (its spans), plus the columns a list needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from .data import Traced


@runtime_checkable
class TraceStore(Protocol):
    """Saving is off the request's path: traces are queued and written in batches. Every read of
    traces, every feedback write and every document deletion writes the queue first, so a reader
    never misses a trace saved before its call, and a deleted document's text never survives in
    a trace that was still queued."""

    trace_retention_days: float  # traces older than this are deleted now and then, as batches are written
    trace_redactor: Callable[[dict[str, Any]], dict[str, Any]] | None  # applied to each trace before it is stored
    trace_exporter: Callable[[list[dict[str, Any]]], object] | None  # gets each stored batch (OTLP), off the request

    def save_trace(self, trace: Traced) -> None:
        """Queue the trace and return at once; a background writer stores queued traces in one
        transaction a few milliseconds later (one commit per request cost a server more than its
        search). A trace with an existing trace_id replaces it. Lost, never half-written, if the
        process dies before the batch commits; a failing batch costs its traces, never a request.
        A trace naming a document (doc_ids) that is not stored when its batch is written is not
        kept: the document was deleted while the request ran, and the trace quotes it. Nor is one
        whose doc_versions (doc_id -> the version read, StoredChunk.version) names a version no
        longer stored: the document was re-ingested with new text meanwhile (store/quoted.py).
        The check and the write are one transaction no deletion or replacement comes between."""

    def flush_traces(self) -> None:
        """Write the queued traces now, committed before this returns (a no-op when none are
        queued); it also waits for a batch the background writer took just before."""

    def list_traces(
        self, *, tenant: str | None = None, key_id: str | None = None, limit: int = 50, name: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest traces first (by start time), at most `limit`, narrowed to a tenant, a key
        and a name when given: trace_id, started_at, name, key_id, tenant, duration_ms, status,
        cost_usd, input_tokens, output_tokens and input, a summary of the request's input: its
        top-level text, number, true/false and null values in their order, text cut to 200
        characters and "…" (lists and objects, a chat's messages, are read with get_trace), so a
        list of 1,000 traces stays small. Queued traces are written first."""

    def get_trace(self, trace_id: str) -> dict[str, Any] | None:
        """The whole trace as saved (after redaction), or None. Queued traces are written first.
        Saved bounded (observe.tracing.bounded): each text value cut to 4,000 characters and the
        trace to about 100,000 in all, whoever built it; its doc_ids and doc_versions whole."""
