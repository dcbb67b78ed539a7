"""Traces and feedback in the PostgreSQL store. Mixed into PostgresStore; the same methods and
promises as the SQLite store's (store/traces.py), whose queue and writer thread it reuses: a
request only appends its trace to the queue, a background thread writes what gathered in one
transaction, and every read of traces or feedback, every deletion, and close() write the queue
first (flush_traces), so what a process saved is visible to it, and committed for every other
process, once flush_traces returns."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..quoted import quoted_docs, still_quoted, trace_sources
from ..traces import SUMMARY_CHARS, TracesMixin, mention_pattern
from .connection import Database

Row = tuple[Any, ...]
_TRACE_KEYS = (
    "trace_id",
    "started_at",
    "name",
    "key_id",
    "tenant",
    "duration_ms",
    "status",
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "input",
)
_FEEDBACK_KEYS = (
    "feedback_id",
    "trace_id",
    "created_at",
    "key_id",
    "tenant",
    "query",
    "rating",
    "rating_scale",
    "correction",
    "marks",
    "cited",
)
# A listed trace's input, as SQLite's (store/traces.py _INPUT_SUMMARY): its top-level text, number
# and true/false values, text cut to SUMMARY_CHARS, in their order; lists and objects left out.
_INPUT_SUMMARY = """(SELECT json_object_agg(e.key, CASE WHEN json_typeof(e.value) = 'string'
      AND length(e.value #>> '{}') > %s THEN to_json(left(e.value #>> '{}', %s) || '…') ELSE e.value END
      ORDER BY e.n)
    FROM (SELECT (data::json) -> 'input' AS i) AS x,
      json_each(CASE WHEN json_typeof(x.i) = 'object' THEN x.i ELSE '{}'::json END) WITH ORDINALITY AS e(key, value, n)
    WHERE json_typeof(e.value) NOT IN ('object', 'array'))::text"""
_INSERT_TRACE = """
    INSERT INTO traces VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (trace_id) DO UPDATE SET started_at = excluded.started_at, name = excluded.name,
      key_id = excluded.key_id, tenant = excluded.tenant, duration_ms = excluded.duration_ms,
      status = excluded.status, cost_usd = excluded.cost_usd, input_tokens = excluded.input_tokens,
      output_tokens = excluded.output_tokens, data = excluded.data"""


class PgTracesMixin(TracesMixin):
    db: Database
    _one: Callable[..., Row | None]
    _all: Callable[..., list[Row]]

    def _flush_queued(self) -> None:
        """The queue written in one transaction (redacted first); retention applied now and then;
        the batch handed to the exporter thread. SQLite's, over this store's transactions."""
        with self._trace_queue_lock:
            batch, self._trace_queue = self._trace_queue, []
        if not batch:
            return
        batch = self._redacted(batch)
        with self.db.write(generation=False) as (cur, _):
            batch = still_quoted(batch, stored_versions(cur, quoted_docs(batch)))
            cur.executemany(_INSERT_TRACE, [_trace_row(data) for data in batch])
            links = [(data["trace_id"], d) for data in batch for d in trace_sources(data)]
            if links:
                cur.executemany(
                    "INSERT INTO trace_docs(trace_id, doc_id) VALUES (%s, %s) ON CONFLICT DO NOTHING", links
                )
            self._saves += len(batch)
            if self._saves // 200 != (self._saves - len(batch)) // 200 or self._saves == len(batch):
                cur.execute(
                    "DELETE FROM traces WHERE started_at < %s", (time.time() - self.trace_retention_days * 86400,)
                )
        if self.trace_exporter is not None:
            with self._trace_queue_lock:
                self._export_queue.append(batch)
                self._trace_wake.notify()

    def list_traces(
        self, *, tenant: str | None = None, key_id: str | None = None, limit: int = 50, name: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest first, with a summary of the request's input (the whole trace: get_trace);
        each filter given narrows the list."""
        self.flush_traces()
        where, params = ["TRUE"], []
        for column, value in (("tenant", tenant), ("key_id", key_id), ("name", name)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        rows = self._all(
            "SELECT trace_id, started_at, name, key_id, tenant, duration_ms, status, cost_usd, input_tokens, "
            f"output_tokens, {_INPUT_SUMMARY} FROM traces WHERE {' AND '.join(where)} "
            "ORDER BY started_at DESC LIMIT %s",
            (SUMMARY_CHARS, SUMMARY_CHARS, *params, limit),
        )
        return [{**dict(zip(_TRACE_KEYS, r, strict=True)), "input": json.loads(r[10] or "{}")} for r in rows]

    def get_trace(self, trace_id: str) -> dict[str, Any] | None:
        self.flush_traces()
        row = self._one("SELECT data FROM traces WHERE trace_id = %s", (trace_id,))
        return dict(json.loads(row[0])) if row else None

    # -- feedback --------------------------------------------------------------------------------

    def save_feedback(
        self,
        feedback_id: str,
        trace_id: str,
        *,
        key_id: str | None,
        tenant: str | None,
        query: str,
        rating: float | None,
        rating_scale: str | None,
        correction: str | None,
        marks: Sequence[dict[str, Any]],
        cited: Sequence[str] = (),
    ) -> None:
        """Committed before this returns: the feedback survives a crash right after."""
        self.flush_traces()
        with self.db.write(generation=False) as (cur, _):
            who = (feedback_id, trace_id, time.time(), key_id, tenant)
            said = (query, rating, rating_scale, correction, json.dumps(list(marks)), json.dumps(list(cited)))
            cur.execute("INSERT INTO feedback VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", (*who, *said))

    def list_feedback(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Oldest first; given `tenant`, only that tenant's."""
        where, params = ("WHERE tenant = %s", (tenant,)) if tenant else ("", ())
        rows = self._all(f"SELECT {', '.join(_FEEDBACK_KEYS)} FROM feedback {where} ORDER BY created_at", params)
        return [
            {**dict(zip(_FEEDBACK_KEYS, r, strict=True)), "marks": json.loads(r[9]), "cited": json.loads(r[10])}
            for r in rows
        ]


def _trace_row(data: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("trace_id", "start", "name", "key_id", "tenant", "duration_ms", "status", "cost_usd")
    return (*(data[k] for k in keys), data["input_tokens"], data["output_tokens"], json.dumps(data))


def stored_versions(cur: Any, doc_ids: Sequence[str]) -> dict[str, str]:
    """doc_id -> version (store/quoted.py) of those of these documents that are stored, inside a
    write transaction, for what it then writes about them (a trace, a cache entry). The write
    generation's row is locked shared first: every document write and deletion bumps it first and
    holds it to its commit (Database.write), so none is under way while this reads (READ
    COMMITTED: the read sees the last one committed) and none starts before this transaction
    commits, or its cleanup would miss what it writes."""
    if not doc_ids:
        return {}
    cur.execute("SELECT 1 FROM meta WHERE key = 'generation' FOR SHARE")
    cur.execute("SELECT doc_id, content_hash FROM documents WHERE doc_id = ANY(%s)", (list(doc_ids),))
    return {r[0]: r[1] for r in cur.fetchall()}


def delete_traces_of(cur: Any, doc_id: str) -> None:
    """Inside a document's deletion: traces that hold its text go with it (their links cascade)."""
    cur.execute("DELETE FROM traces WHERE trace_id IN (SELECT trace_id FROM trace_docs WHERE doc_id = %s)", (doc_id,))


def forget_feedback_refs(cur: Any, doc_id: str) -> None:
    """Inside a document's deletion: feedback keeps the user's query, rating and correction (their
    words, not the document's) but no longer names the document in its marks or citations."""
    needle = mention_pattern(doc_id)
    cur.execute(
        "SELECT feedback_id, marks, cited FROM feedback WHERE marks LIKE %s ESCAPE '!' OR cited LIKE %s ESCAPE '!'",
        (needle, needle),
    )
    updates = []
    for feedback_id, marks, cited in cur.fetchall():
        kept = [m for m in json.loads(marks) if m.get("doc_id") != doc_id]
        still_cited = [d for d in json.loads(cited) if d != doc_id]
        updates.append((json.dumps(kept), json.dumps(still_cited), feedback_id))
    if updates:
        cur.executemany("UPDATE feedback SET marks = %s, cited = %s WHERE feedback_id = %s", updates)
