"""Observability beside the pipeline: traces of every request, spans with timings, tokens, cost."""

from .tracing import Span, Trace, add_cost, current_trace, muted, note_documents, span, start_trace

__all__ = ["Span", "Trace", "add_cost", "current_trace", "muted", "note_documents", "span", "start_trace"]
