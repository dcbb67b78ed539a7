"""Traces and feedback in the store. Mixed into SqliteStore.

A trace is one JSON document (its spans) plus the columns a list needs. Feedback copies the
query it is about, so it outlives the trace's retention and can become evaluation data."""

from __future__ import annotations

import atexit
import contextlib
import json
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..observe.tracing import bounded
from .contract.data import Traced
from .quoted import quoted_docs, still_quoted, stored_versions, trace_sources
from .sql import Row

REDACT_SLACK = 4  # save_trace's bounds this many times over when a redactor runs before the real bound
SUMMARY_CHARS = 200  # characters of each text value of a trace's input shown in a list of traces
# A listed trace's input: its top-level text, number and true/false values, text cut to
# SUMMARY_CHARS (lists and objects, a chat's messages, are left to the whole trace), made by
# SQLite from the stored JSON: a listing of 1,000 traces reads and sends no more than this.
_INPUT_SUMMARY = """(SELECT json_group_object(key, CASE type
      WHEN 'true' THEN json('true') WHEN 'false' THEN json('false')
      WHEN 'text' THEN CASE WHEN length(value) > ? THEN substr(value, 1, ?) || '…' ELSE value END
      ELSE value END)
    FROM json_each(data, '$.input') WHERE type NOT IN ('object', 'array') AND typeof(key) = 'text')"""


class TracesMixin:
    _lock: threading.RLock
    _conn: sqlite3.Connection
    _transaction: Callable[..., AbstractContextManager[None]]
    _one: Callable[..., Row | None]
    _all: Callable[..., list[Row]]

    def _init_traces(self) -> None:
        self.trace_retention_days = 30.0
        self.trace_redactor: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # applied before storing
        self.trace_exporter: Callable[[list[dict[str, Any]]], object] | None = None  # gets each stored batch (OTLP)
        self._saves = 0
        self._trace_queue: list[dict[str, Any]] = []
        self._trace_queue_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._trace_wake = threading.Condition(self._trace_queue_lock)
        self._trace_writer: threading.Thread | None = None
        self._trace_stopping = False
        self._export_queue: list[list[dict[str, Any]]] = []

    def save_trace(self, trace: Traced) -> None:
        """Queue the trace; a background thread writes the queue in one transaction every few
        milliseconds (one commit per request cost a server more than its search). Every read of
        traces, feedback and deletion writes the queue first, and so does close(). Bounded here
        (observe.tracing.bounded), whoever built the trace: what a request may leave is capped."""
        data = bounded(trace.to_dict(), REDACT_SLACK if self.trace_redactor is not None else 1)
        with self._trace_queue_lock:
            self._trace_queue.append(data)
            if self._trace_writer is None:
                self._trace_writer = threading.Thread(
                    target=self._write_traces_soon, name="ragwright-traces", daemon=True
                )
                self._trace_writer.start()
                atexit.register(_flush_at_exit, weakref.ref(self))
            if len(self._trace_queue) == 1:  # the writer waits only on an empty queue: wake it once per batch
                self._trace_wake.notify()

    def _redacted(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The batch redacted, then bounded as save_trace bounds an unredacted trace: save_trace cut
        it REDACT_SLACK times looser, so no value the redactor must see was split before it ran."""
        if self.trace_redactor is None:
            return batch
        return [bounded(self.trace_redactor(data)) for data in batch]

    def flush_traces(self) -> None:
        """Write the queued traces now (a no-op when none are queued). One flush at a time: a read
        or a deletion that flushes also waits for the batch the writer thread took just before, so
        it never reads (or deletes) before that batch is in. Never called holding self._lock."""
        with self._flush_lock:
            self._flush_queued()

    def _flush_queued(self) -> None:
        with self._trace_queue_lock:
            batch, self._trace_queue = self._trace_queue, []
        if not batch:
            return
        batch = self._redacted(batch)
        with self._lock, self._transaction(stamp=False):
            batch = still_quoted(batch, stored_versions(self._conn, quoted_docs(batch)))
            for data in batch:
                self._insert_trace(data)
            self._saves += len(batch)
            if self._saves // 200 != (self._saves - len(batch)) // 200 or self._saves == len(batch):
                self._conn.execute(
                    "DELETE FROM traces WHERE started_at < ?",  # retention, now and then
                    (time.time() - self.trace_retention_days * 86400,),
                )
        if self.trace_exporter is not None:  # sent by the writer thread: a slow collector never holds a request
            with self._trace_queue_lock:
                self._export_queue.append(batch)
                self._trace_wake.notify()

    def _insert_trace(self, data: dict[str, Any]) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO traces VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                data["trace_id"],
                data["start"],
                data["name"],
                data["key_id"],
                data["tenant"],
                data["duration_ms"],
                data["status"],
                data["cost_usd"],
                data["input_tokens"],
                data["output_tokens"],
                json.dumps(data),
            ),
        )
        self._conn.executemany(
            "INSERT OR IGNORE INTO trace_docs(trace_id, doc_id) VALUES (?, ?)",
            [(data["trace_id"], d) for d in trace_sources(data)],
        )

    def stop_trace_writer(self) -> None:
        """Write (and export) what is queued and let the writer thread end (the store is closing)."""
        self.flush_traces()
        self._export_queued()
        with self._trace_queue_lock:
            self._trace_stopping = True
            self._trace_wake.notify()

    def _write_traces_soon(self) -> None:
        while True:
            with self._trace_queue_lock:
                while not self._trace_queue and not self._export_queue and not self._trace_stopping:
                    self._trace_wake.wait()
                if self._trace_stopping:
                    return
            time.sleep(0.02)  # let a burst gather into one transaction
            try:
                self.flush_traces()
            except Exception:  # noqa: BLE001  a closed store or a full disk: the traces are lost, not the request
                with self._trace_queue_lock:
                    self._trace_queue.clear()
            self._export_queued()

    def _export_queued(self) -> None:
        with self._trace_queue_lock:
            batches, self._export_queue = self._export_queue, []
        exporter = self.trace_exporter
        if exporter is None:
            return
        for batch in batches:
            with contextlib.suppress(Exception):  # an exporter's trouble never costs a trace or a request
                exporter(batch)

    def list_traces(
        self, *, tenant: str | None = None, key_id: str | None = None, limit: int = 50, name: str | None = None
    ) -> list[dict[str, Any]]:
        self.flush_traces()
        where, params = ["1=1"], []
        for column, value in (("tenant", tenant), ("key_id", key_id), ("name", name)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        rows = self._all(
            "SELECT trace_id, started_at, name, key_id, tenant, duration_ms, status, cost_usd, "
            f"input_tokens, output_tokens, {_INPUT_SUMMARY} FROM traces WHERE "
            f"{' AND '.join(where)} ORDER BY started_at DESC LIMIT ?",
            (SUMMARY_CHARS, SUMMARY_CHARS, *params, limit),
        )
        keys = (
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
        return [{**dict(zip(keys, r, strict=True)), "input": json.loads(r[10] or "{}")} for r in rows]

    def get_trace(self, trace_id: str) -> dict[str, Any] | None:
        self.flush_traces()
        row = self._one("SELECT data FROM traces WHERE trace_id = ?", (trace_id,))
        return json.loads(row[0]) if row else None

    def _delete_traces_of(self, doc_id: str) -> None:
        """Inside a document's deletion: traces that hold its text go with it."""
        self._conn.execute(
            "DELETE FROM traces WHERE trace_id IN (SELECT trace_id FROM trace_docs WHERE doc_id = ?)", (doc_id,)
        )

    # -- feedback --------------------------------------------------------------------------------

    def _forget_feedback_refs(self, doc_id: str) -> None:
        """Inside a document's deletion: feedback keeps the user's query, rating and correction (their
        words, not the document's) but no longer names the document in its marks or citations."""
        needle = mention_pattern(doc_id)
        rows = self._conn.execute(
            "SELECT feedback_id, marks, cited FROM feedback WHERE marks LIKE ? ESCAPE '!' OR cited LIKE ? ESCAPE '!'",
            (needle, needle),
        ).fetchall()
        for feedback_id, marks, cited in rows:
            kept = [m for m in json.loads(marks) if m.get("doc_id") != doc_id]
            still_cited = [d for d in json.loads(cited) if d != doc_id]
            self._conn.execute(
                "UPDATE feedback SET marks = ?, cited = ? WHERE feedback_id = ?",
                (json.dumps(kept), json.dumps(still_cited), feedback_id),
            )

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
        """Committed before this returns (WAL): the feedback survives a crash right after."""
        self.flush_traces()
        with self._lock, self._transaction(stamp=False):
            self._conn.execute(
                "INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    feedback_id,
                    trace_id,
                    time.time(),
                    key_id,
                    tenant,
                    query,
                    rating,
                    rating_scale,
                    correction,
                    json.dumps(list(marks)),
                    json.dumps(list(cited)),
                ),
            )

    def list_feedback(self, tenant: str | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE tenant = ?", (tenant,)) if tenant else ("", ())
        rows = self._all(
            "SELECT feedback_id, trace_id, created_at, key_id, tenant, query, rating, rating_scale, "
            f"correction, marks, cited FROM feedback {where} ORDER BY created_at",
            params,
        )
        keys = (
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
        return [
            {**dict(zip(keys, r, strict=True)), "marks": json.loads(r[9]), "cited": json.loads(r[10])} for r in rows
        ]


def mention_pattern(doc_id: str) -> str:
    """A LIKE pattern, with ESCAPE '!', for the JSON text of feedback that names `doc_id`: the id as
    json.dumps wrote it there (a non-ASCII character as \\uXXXX, a quote or a backslash escaped),
    its '%', '_' and '!' matched as themselves. PostgreSQL's LIKE escapes with a backslash unless
    told otherwise, SQLite's matches ASCII letters in either case: a row it finds is read to
    decide, never taken on the pattern's word."""
    quoted = json.dumps(doc_id)
    return "%" + quoted.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def _flush_at_exit(ref: weakref.ref[TracesMixin]) -> None:
    store = ref()
    if store is not None:
        with contextlib.suppress(Exception):  # closed already, or the disk is gone: nothing more to do at exit
            store.flush_traces()
