"""Observability beside the pipeline: traces of every request, spans with timings, tokens, cost."""

from .tracing import (
    Span,
    Trace,
    add_cost,
    collecting_sent,
    current_trace,
    muted,
    note_documents,
    note_sent,
    span,
    start_trace,
)

__all__ = [
    "Span",
    "Trace",
    "add_cost",
    "collecting_sent",
    "current_trace",
    "muted",
    "note_documents",
    "note_sent",
    "span",
    "start_trace",
]
