"""The PostgreSQL + pgvector store: the whole store contract (store/contract/; the methods of
SqliteStore with the same signatures and promises), for several processes on several machines
sharing one database. Documents, chunks and search are here; traces and feedback, learned
versions, keys, audit and jobs, the gateway's records and evaluation runs are mixed in.

PostgreSQL is the system of record; the only thing a process keeps is the keyword index, derived
from the tables and caught up by write generation (search.py). Reads run in their own short
transactions on pooled connections, so a reader sees each write whole or not at all."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ...analysis import Analyzer
from ...errors import StoreError
from ...types import Chunk, DocumentRecord
from ..base import DocumentWrite, Filters, StoredChunk
from ..timeouts import STATEMENT_TIMEOUT_S
from .access import PgAccessMixin, unlink_caches
from .connection import Database
from .filters import filter_sql
from .learned import PgLearnedMixin
from .meta import HOT, shared_cache
from .ratelimits import PgRateLimitsMixin
from .records import PgRecordsMixin, forget_in_runs
from .results import ResultCache, keyword_key, vector_key
from .schema import migrate
from .search import Searcher
from .traces import PgTracesMixin, delete_traces_of, forget_feedback_refs
from .writes import DeleteHook, Writer

# Exact scan below this many candidate vectors, HNSW above (bench/pg_store.py, 384 dimensions, 2
# busy cores): pgvector's exact top 100 took 2.8 ms at 5k and 75 ms at 100k (0.75 ms per 1k), its
# HNSW 6.3 ms at 100k, so they cross near 10k. SQLite's default (250k) is for its in-memory scan.
DEFAULT_ANN_THRESHOLD = 10_000
_UPDATED = "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
DOC_COLUMNS = f"doc_id, source, title, format, content_hash, n_chunks, metadata, size, {_UPDATED}, tenant, groups"
_MANIFEST = ("source", "doc_id", "content_hash", "size", "mtime_ns", "status", "error")


class PostgresStore(PgTracesMixin, PgRecordsMixin, PgAccessMixin, PgRateLimitsMixin, PgLearnedMixin):
    """`url`: postgresql://USER[:PASSWORD]@HOST[:PORT]/DB. Opening migrates the schema (refusing a
    newer one) and enables pgvector when it is missing; an unreachable server is a StoreError that
    names the URL with its password masked; a read that runs past `statement_timeout_s` (0: never)
    is cancelled, a StoreUnavailable (connection.py). Traces, feedback, learned versions, keys, audit, jobs,
    caches, budgets and evaluation runs come from the mixins (traces.py, learned.py, access.py,
    records.py)."""

    def __init__(
        self,
        url: str,
        *,
        ann_threshold: int = DEFAULT_ANN_THRESHOLD,
        bm25_k1: float = 0.9,
        bm25_b: float = 0.4,
        pool_min: int = 1,
        pool_max: int = 10,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        statement_timeout_s: float = STATEMENT_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.ann_threshold = ann_threshold
        self.bm25_params = (bm25_k1, bm25_b)
        self.analyzer = Analyzer()
        self.db = Database(
            url,
            min_size=pool_min,
            max_size=pool_max,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            statement_timeout_s=statement_timeout_s,
        )
        conn = self.db.connect(autocommit=True)
        try:
            migrate(conn, self.db.shown)
        except self.db.psycopg.Error as exc:
            raise self.db.error("cannot migrate the schema", exc) from exc
        finally:
            conn.close()
        self.db.open_pool()
        self._meta = shared_cache(url)  # generation, learned, embedder: read together (meta.py)
        self._writer = Writer(self.db, self.analyzer, ann_threshold)
        self._search = Searcher(self.db, self.analyzer, ann_threshold, bm25_k1, bm25_b, self._generation)
        self._results = ResultCache()  # a repeated search of one generation (results.py)
        self._closed = False
        self._init_traces()
        # what true deletion takes with a document, in its transaction (learned marks: a trigger)
        self._writer.on_delete.extend([unlink_caches, delete_traces_of, forget_in_runs, forget_feedback_refs])
        self._writer.on_replace.extend([unlink_caches, delete_traces_of, forget_in_runs])  # its feedback stays

    @property
    def shown_url(self) -> str:
        """The URL with its password masked."""
        return self.db.shown

    @property
    def on_delete(self) -> list[DeleteHook]:
        """Functions (cursor, doc_id) run inside every document deletion's transaction."""
        return self._writer.on_delete

    # -- writes -------------------------------------------------------------------------------

    def write_documents(self, writes: Sequence[DocumentWrite]) -> None:
        """Replace each document's chunks, term counts and vectors, all documents in one transaction:
        readers see old or new, never both. A document whose content changed takes along the
        traces and cache entries that quoted its old text (queued traces are written first)."""
        self.flush_traces()
        try:
            self._writer.write_documents(writes)
        finally:
            self._meta.moved()

    def record_failure(self, source: str, error: str) -> None:
        """Remember why a source failed; its previously indexed version, if any, stays searchable."""
        try:
            self._writer.record_failure(source, error)
        finally:
            self._meta.moved()

    def delete_document(self, doc_id: str) -> bool:
        """The document, its chunks, term rows, vectors and manifest row, the traces that quote it,
        the cache entries made from it, its marks in feedback and in learned versions, its text in
        evaluation runs' cases (store/records.py, forget_in_cases): all in one
        transaction. Queued traces are written first, so that none holding its text comes after."""
        self.flush_traces()
        try:
            return self._writer.delete_document(doc_id)
        finally:
            self._meta.moved()

    def set_meta(self, key: str, value: str) -> None:
        try:
            with self.db.write(generation=False) as (cur, _):
                cur.execute(
                    "INSERT INTO meta(key, value) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )
        finally:
            self._meta.moved()

    def add_meta(self, key: str, value: str) -> str:
        try:
            with self.db.write(generation=False) as (cur, _):
                cur.execute("INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING", (key, value))
                cur.execute("SELECT value FROM meta WHERE key = %s", (key,))
                row = cur.fetchone()
        finally:
            self._meta.moved()
        return str(row[0])

    # -- reads --------------------------------------------------------------------------------

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.db.read() as cur:
            cur.execute(sql, params)
            rows: list[tuple[Any, ...]] = cur.fetchall()
            return rows

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def get_meta(self, key: str) -> str | None:
        """'generation', 'learned' and 'embedder' come from the meta cache: this process's own
        writes show at once, another process's within 0.25 s (meta.py); other keys are read."""
        if key in HOT:
            return self._meta.values(self.db).get(key)
        row = self._one("SELECT value FROM meta WHERE key = %s", (key,))
        return row[0] if row else None

    def _generation(self) -> int:
        return int(self._meta.values(self.db)["generation"])

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        row = self._one(f"SELECT {DOC_COLUMNS} FROM documents WHERE doc_id = %s", (doc_id,))
        return _doc(row) if row else None

    def document_by_source(self, source: str) -> DocumentRecord | None:
        row = self._one(f"SELECT {DOC_COLUMNS} FROM documents WHERE source = %s", (source,))
        return _doc(row) if row else None

    def list_documents(
        self, filters: Filters | None = None, limit: int | None = None, offset: int = 0
    ) -> list[DocumentRecord]:
        """Ordered by source byte by byte (COLLATE "C"), as SQLite orders them, whatever the
        database's collation."""
        where, params = filter_sql(filters)
        rows = self._all(
            f'SELECT {DOC_COLUMNS} FROM documents d WHERE TRUE {where} ORDER BY source COLLATE "C" LIMIT %s OFFSET %s',
            [*params, limit, offset],
        )
        return [_doc(r) for r in rows]

    def count_documents(self, filters: Filters | None = None) -> int:
        where, params = filter_sql(filters)
        row = self._one(f"SELECT count(*) FROM documents d WHERE TRUE {where}", params)
        assert row is not None
        return int(row[0])

    def manifest_entry(self, source: str) -> dict[str, Any] | None:
        row = self._one(f"SELECT {', '.join(_MANIFEST)} FROM manifest WHERE source = %s", (source,))
        return dict(zip(_MANIFEST, row, strict=True)) if row else None

    def failures(self) -> list[tuple[str, str]]:
        return [
            (s, e)
            for s, e in self._all(
                "SELECT source, error FROM manifest WHERE status = 'failed' ORDER BY source COLLATE \"C\""
            )
        ]

    def stats(self) -> dict[str, int]:
        row = self._one(
            "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks), "
            "(SELECT count(*) FROM chunk_terms), (SELECT count(*) FROM vectors), "
            "(SELECT count(*) FROM manifest WHERE status = 'failed')"
        )
        assert row is not None
        return dict(zip(("documents", "chunks", "term_rows", "vectors", "failed"), (int(n) for n in row), strict=True))

    def get_chunks(self, chunk_ids: Iterable[str]) -> dict[str, StoredChunk]:
        ids = list(dict.fromkeys(chunk_ids))
        if not ids:
            return {}
        rows = self._all(
            "SELECT c.chunk_id, c.doc_id, c.ordinal, c.text, c.heading_path, c.page, d.source, d.title, "
            "d.content_hash FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE c.chunk_id = ANY(%s)",
            (ids,),
        )
        found = {r[0]: StoredChunk(Chunk(r[0], r[1], r[2], r[3], list(r[4]), r[5]), r[6], r[7], r[8]) for r in rows}
        return {cid: found[cid] for cid in ids if cid in found}

    def chunk_texts(self, doc_id: str) -> list[str]:
        """A document's chunk texts in reading order."""
        return [r[0] for r in self._all("SELECT text FROM chunks WHERE doc_id = %s ORDER BY ordinal", (doc_id,))]

    def reusable_vectors(self, doc_id: str) -> dict[str, np.ndarray]:
        """Vectors of a document's current chunks by text hash, so unchanged chunks skip the embedder."""
        with self.db.read(binary=True) as cur:
            cur.execute(
                "SELECT c.text_hash, v.embedding FROM chunks c JOIN vectors v ON v.chunk_rowid = c.rowid "
                "WHERE c.doc_id = %s",
                (doc_id,),
            )
            return {h: np.asarray(vec.to_numpy(), dtype=np.float32) for h, vec in cur.fetchall()}

    # -- search -------------------------------------------------------------------------------

    def keyword_search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """BM25 over chunk text: (chunk_id, score), best first, filters applied before ranking (and
        the statistics taken over the allowed chunks only)."""
        search = functools.partial(self._search.keyword_search, query, k, filters)
        return self._results.get(self._generation(), keyword_key(query, k, filters), search)

    def vector_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """Cosine similarity: (chunk_id, score), best first, filters applied before ranking."""
        search = functools.partial(self._search.vector_search, vector, k, filters)
        return self._results.get(self._generation(), vector_key(vector, k, filters), search)

    def warm(self) -> None:
        """Build the keyword index now rather than in the first search that needs it."""
        self._search.warm()

    def indexes_current(self) -> bool:
        """Always False: every search reads chunks (and the write generation) from the database,
        which must never block a server's event loop (a database outage would stall every
        request, /healthz included)."""
        return False

    def close(self) -> None:
        """Writes the queued traces, then closes the pool; a second close does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop_trace_writer()
        finally:
            self.db.close()


def _doc(row: tuple[Any, ...]) -> DocumentRecord:
    doc_id, source, title, fmt, chash, n, meta, size, updated, tenant, groups = row
    return DocumentRecord(doc_id, source, title, fmt, chash, n, dict(meta), size, updated, tenant, list(groups))


__all__ = ["DEFAULT_ANN_THRESHOLD", "PostgresStore", "StoreError"]
