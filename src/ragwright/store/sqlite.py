"""The embedded store: one SQLite file in WAL mode holding documents, chunks, per-chunk term
counts (for BM25), vectors and the ingestion manifest. Every write is one transaction, so a crash (even kill -9)
leaves each document either wholly old or wholly new."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..analysis import Analyzer
from ..errors import StoreError
from ..types import DocumentRecord
from .access import AccessMixin
from .base import DocumentWrite, Filters, StoredChunk
from .learned import LearnedMixin
from .leases import JobLeasesMixin
from .ratelimits import SqliteRateLimitsMixin
from .records import RecordsMixin
from .schema import migrate
from .search import SearchMixin
from .sql import DOC_COLUMNS as _DOC_COLUMNS
from .sql import Row
from .sql import Tx as _Tx
from .sql import doc_from_row as _doc
from .sql import filter_sql as _filter_sql
from .sqlite_checkpoint import Checkpointer
from .sqlite_deadline import ReadDeadline
from .sqlite_files import create_private, wal
from .sqlite_rows import fetch_chunks, term_blobs, write_document
from .sqlite_vocab import dead_terms
from .stamp import KeptReads
from .timeouts import STATEMENT_TIMEOUT_S
from .traces import TracesMixin

T = TypeVar("T")
BUSY_S = 30  # how long a write waits for another process's


class SqliteStore(
    SearchMixin, RecordsMixin, AccessMixin, JobLeasesMixin, SqliteRateLimitsMixin, TracesMixin, LearnedMixin
):
    """Implements `ragwright.store.Store` on one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        ann_threshold: int = 250_000,
        bm25_k1: float = 0.9,
        bm25_b: float = 0.4,
        statement_timeout_s: float = STATEMENT_TIMEOUT_S,
    ) -> None:
        self.path = Path(path)
        self._deadline = ReadDeadline(self.path, statement_timeout_s)  # readers only (sqlite_deadline.py)
        self.statement_timeout_s = statement_timeout_s
        self.ann_threshold = ann_threshold
        self.bm25_params = (bm25_k1, bm25_b)
        self.analyzer = Analyzer()
        try:
            create_private(self.path)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_S)
            wal(self._conn)
            for pragma in ("synchronous = NORMAL", "foreign_keys = ON", "secure_delete = ON"):
                self._conn.execute(f"PRAGMA {pragma}")
            migrate(self._conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open the store: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"{self.path.parent}: cannot create the data directory: {exc}") from exc
        self._lock = threading.RLock()  # one writer at a time on self._conn
        self._checkpointer = Checkpointer(self.path, self._conn, self._lock, BUSY_S * 1000)
        self._local = threading.local()  # per thread: its read connection, whether it is writing
        self._readers: list[sqlite3.Connection] = []
        self._closed = False
        self._init_traces()
        self._kept = KeptReads(self.path)  # meta values and API keys, until any process writes
        self._chunk_rows: tuple[int | None, dict[str, StoredChunk]] = (None, {})  # per write generation
        self._derived_state: dict[str, tuple[int, Any]] = {}  # name -> (generation, in-memory index)
        self._vocab: dict[str, int] = {}
        self._vocab_top = -1  # the highest term id known
        self._vocab_epoch: str | None = None  # meta's vocab_epoch when the vocabulary was read
        self._allowed_cache: dict[str, tuple[str | None, np.ndarray]] = {}
        self._names: dict[int, str] = {}
        self._names_generation: int | None = None
        self._vocab_generation: int | None = None

    # -- writes -------------------------------------------------------------------------------

    def write_documents(self, writes: Sequence[DocumentWrite]) -> None:
        """A document whose content changed (or whose source another id held) takes with it what
        was derived from its old text, as a deletion does (`_forget_derived`): cached replies and
        traces that quoted the old version; the WAL is checkpointed after. Otherwise a re-upload
        made to take a leaked secret out of a file kept it in /v1/traces and in the file."""
        if not writes:
            return
        self.flush_traces()  # queued traces quoting the old text are deleted with it
        stale: dict[str, bool] = {}
        with self._lock:
            try:
                with self._transaction():
                    self._load_vocab()
                    replaced: list[bytes] = []
                    added: set[int] = set()
                    generation = self._write_generation()
                    for w in writes:
                        added |= write_document(self._conn, w, self.analyzer, self._term_id, replaced, stale)
                    self._prune_vocab(replaced, generation, added)
                    for doc_id, gone in stale.items():
                        self._forget_derived(doc_id, gone)
                    self._bump_generation()
            except BaseException:
                self._forget_vocab()  # may hold rolled-back ids: reload on next use
                raise
        if stale:
            self.checkpoint()

    def record_failure(self, source: str, error: str) -> None:
        """Remember why a file failed; its previously indexed version, if any, stays searchable."""
        with self._lock, self._transaction(stamp=False):
            self._conn.execute(
                """INSERT INTO manifest(source, status, error) VALUES (?, 'failed', ?)
                   ON CONFLICT(source) DO UPDATE SET status='failed', error=excluded.error,
                     updated_at=strftime('%Y-%m-%dT%H:%M:%fZ','now')""",
                (source, error),
            )

    def delete_document(self, doc_id: str) -> bool:
        self.flush_traces()  # queued traces holding its text are deleted with it
        with self._lock, self._transaction():
            row = self._conn.execute("SELECT source FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
            if row is None:
                return False
            removed, generation = term_blobs(self._conn, doc_id), self._write_generation()
            self._conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            self._prune_vocab(removed, generation)
            self._conn.execute("DELETE FROM manifest WHERE source = ?", (row[0],))
            self._forget_derived(doc_id, gone=True)
            self._bump_generation()
        self.checkpoint()
        return True

    def _forget_derived(self, doc_id: str, gone: bool) -> None:
        """Inside a write that removes a document's text: the cached replies and traces that quoted
        it go, and evaluation runs keep their figures but not its text (records.forget_in_cases);
        when the id itself is `gone`, feedback no longer names it either (a replaced document
        keeps its feedback: the users' words, about a document that still exists)."""
        self._conn.execute(
            "DELETE FROM cache_entries WHERE (namespace, key) IN "
            "(SELECT namespace, key FROM cache_sources WHERE doc_id = ?)",
            (doc_id,),
        )
        self._conn.execute("DELETE FROM cache_sources WHERE doc_id = ?", (doc_id,))
        self._delete_traces_of(doc_id)
        self._forget_in_runs(doc_id)
        if gone:
            self._forget_feedback_refs(doc_id)

    def checkpoint(self) -> bool:
        """Fold the WAL back into the main file so deleted text does not linger in the log. True
        when done; when a reader holds it up (another process mid-read), this returns within half
        a second and the checkpoint is retried in the background (store/sqlite_checkpoint.py)."""
        return self._checkpointer.run()

    # -- reads --------------------------------------------------------------------------------

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        row = self._one(f"SELECT {_DOC_COLUMNS} FROM documents WHERE doc_id = ?", (doc_id,))
        return _doc(row) if row else None

    def document_by_source(self, source: str) -> DocumentRecord | None:
        row = self._one(f"SELECT {_DOC_COLUMNS} FROM documents WHERE source = ?", (source,))
        return _doc(row) if row else None

    def list_documents(
        self, filters: Filters | None = None, limit: int | None = None, offset: int = 0
    ) -> list[DocumentRecord]:
        where, params = _filter_sql(filters)
        page = " LIMIT ? OFFSET ?" if limit is not None or offset else ""
        rows = self._all(
            f"SELECT {_DOC_COLUMNS} FROM documents d WHERE 1=1 {where} ORDER BY source{page}",
            [*params, *((-1 if limit is None else limit, offset) if page else ())],
        )
        return [_doc(r) for r in rows]

    def count_documents(self, filters: Filters | None = None) -> int:
        where, params = _filter_sql(filters)
        return self._count(f"SELECT count(*) FROM documents d WHERE 1=1 {where}", params)

    def manifest_entry(self, source: str) -> dict[str, Any] | None:
        row = self._one(
            "SELECT source, doc_id, content_hash, size, mtime_ns, status, error FROM manifest WHERE source = ?",
            (source,),
        )
        keys = ("source", "doc_id", "content_hash", "size", "mtime_ns", "status", "error")
        return dict(zip(keys, row, strict=True)) if row else None

    def failures(self) -> list[tuple[str, str]]:
        return self._all("SELECT source, error FROM manifest WHERE status = 'failed' ORDER BY source")

    def stats(self) -> dict[str, int]:
        tables = {
            "documents": "documents",
            "chunks": "chunks",
            "term_rows": "chunk_terms",
            "vectors": "vectors",
            "failed": "manifest WHERE status = 'failed'",
        }
        return {name: self._count(f"SELECT count(*) FROM {table}") for name, table in tables.items()}

    def get_meta(self, key: str) -> str | None:
        def read() -> str | None:
            row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
            return str(row[0]) if row else None  # value TEXT NOT NULL

        return self._kept_read("meta:" + key, read)

    def _kept_read(self, name: str, read: Callable[[], T], keep_none: bool = True) -> T:
        """read(), or what it gave last under the same write stamp (store/stamp.py); inside this
        thread's own write, always read (not committed yet, so the stamp is not bumped)."""
        return read() if getattr(self._local, "writing", False) else self._kept.get(name, read, keep_none)

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, self._transaction():
            self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def add_meta(self, key: str, value: str) -> str:
        with self._lock, self._transaction():
            self._conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """The single number a `SELECT count(*) ...` gives."""
        row = self._one(sql, params)
        return int(row[0]) if row else 0

    def _all(self, sql: str, params: Sequence[Any] = (), bounded: bool = True) -> list[Row]:
        """Inside this thread's write, on the writing connection, to see its own rows; otherwise on
        this thread's own read connection, without the lock: WAL readers run side by side with
        each other and with the writer, which is what lets a server's requests run in parallel.
        `bounded`: under the statement timeout (a batch read of whole tables, learning's, is not)."""
        if getattr(self._local, "writing", False):
            return list(self._conn.execute(sql, params).fetchall())
        conn = self._reader()
        with self._deadline.bounded() if bounded else contextlib.nullcontext():
            rows: list[Row] = conn.execute(sql, params).fetchall()
        return rows

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "reader", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
                conn.execute("PRAGMA query_only = ON")
                self._deadline.install(conn)
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: cannot open the store for reading: {exc}") from exc
            with self._lock:
                if self._closed:
                    conn.close()
                    raise StoreError(f"{self.path}: the store is closed")
                self._readers.append(conn)
            self._local.reader = conn
        return conn

    def get_chunks(self, chunk_ids: Iterable[str]) -> dict[str, StoredChunk]:
        """Rows kept per write generation (a deletion or any write bumps it, and the kept rows go):
        a server fetches the same popular chunks again and again. Rows are fetched with the
        generation they belong to, in one snapshot, and kept only under it: a reader never gets
        chunks of two versions of a document together."""
        generation = self._generation()
        held, kept = self._chunk_rows
        if held != generation or len(kept) > 20_000:
            kept, held = {}, generation
            self._chunk_rows = (generation, kept)
        ids = list(dict.fromkeys(chunk_ids))
        out = {cid: kept[cid] for cid in ids if cid in kept}
        if len(out) < len(ids):
            seen, fetched = self._fetch_chunks([cid for cid in ids if cid not in out])
            if seen != held and out:  # a write came between: what was kept is of another version
                seen, fetched = self._fetch_chunks(ids)
                out = {}
            if seen == held and not getattr(self._local, "writing", False):
                kept.update(fetched)
            out.update(fetched)
        return {cid: out[cid] for cid in ids if cid in out}

    def _fetch_chunks(self, ids: list[str]) -> tuple[int, dict[str, StoredChunk]]:
        if getattr(self._local, "writing", False):
            return fetch_chunks(self._conn, ids, True)
        reader = self._reader()
        with self._deadline.bounded():
            return fetch_chunks(reader, ids, False)

    def reusable_vectors(self, doc_id: str) -> dict[str, np.ndarray]:
        rows = self._all(
            "SELECT c.text_hash, v.vector FROM chunks c JOIN vectors v ON v.chunk_rowid = c.rowid WHERE c.doc_id = ?",
            (doc_id,),
        )
        return {h: np.frombuffer(blob, dtype=np.float32) for h, blob in rows}

    def close(self) -> None:
        """Idempotent: a second close does nothing."""
        if self._closed:
            return
        self.stop_trace_writer()
        with self._lock:
            self._closed = True
            for reader in self._readers:
                reader.close()
            self._readers.clear()
            self._checkpointer.close()
            self._conn.close()
            self._kept.stamp.close()

    # -- internals ----------------------------------------------------------------------------

    def _load_vocab(self) -> None:
        """Bring the term vocabulary up to date with what other writers added; read it whole
        again after any writer pruned it (the epoch in meta changes then)."""
        epoch = self._all("SELECT value FROM meta WHERE key = 'vocab_epoch'")
        epoch_value = epoch[0][0] if epoch else "0"
        if epoch_value != self._vocab_epoch:
            self._vocab, self._vocab_top, self._vocab_epoch = {}, -1, epoch_value
        rows = self._all("SELECT term, id FROM terms WHERE id > ?", (self._vocab_top,))
        self._vocab.update(rows)
        self._vocab_top = max([self._vocab_top, *(tid for _, tid in rows)])

    def _forget_vocab(self) -> None:
        self._vocab, self._vocab_top, self._vocab_epoch, self._vocab_generation = {}, -1, None, None

    def _term_id(self, term: str) -> int:
        """The id of a term, adding it inside the current write transaction when new."""
        tid = self._vocab.get(term)
        if tid is None:
            self._vocab_top += 1
            tid = self._vocab[term] = self._vocab_top
            self._conn.execute("INSERT INTO terms(id, term) VALUES (?, ?)", (tid, term))
        return tid

    def _write_generation(self) -> int:
        return int(self._conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    def _prune_vocab(self, removed: list[bytes], generation: int, added: AbstractSet[int] = frozenset()) -> None:
        """Inside a write, after chunks went: the terms no remaining chunk uses leave the
        vocabulary, so that a deleted document's words are not left in the file one by one.
        When the in-memory BM25 index reflects the file as it was before this write (a serving
        store's usually does), its document frequencies say which terms died; otherwise every
        remaining chunk's term ids are read. bench/deletion.py, SciFact's 5,183 abstracts, a
        deletion's p50: 2.5 ms with the index current, 11.4 ms without, 1.2 ms not pruning."""
        if not removed:
            return
        held = self._derived_state.get("bm25")
        current = held[1] if held is not None and held[0] == generation else None
        dead = dead_terms(
            removed, current, added, lambda: self._conn.execute("SELECT counts FROM chunk_terms").fetchall()
        )
        if not len(dead):
            return
        self._conn.executemany("DELETE FROM terms WHERE id = ?", [(int(t),) for t in dead])
        self._conn.execute(
            "INSERT INTO meta(key, value) VALUES ('vocab_epoch', '1') ON CONFLICT(key) DO UPDATE "
            "SET value = CAST(value AS INTEGER) + 1"
        )
        self._forget_vocab()

    def _bump_generation(self) -> None:
        self._conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def _transaction(self, stamp: bool = True) -> _Tx:
        """A write transaction; stamp=False only for writes that change nothing readers keep under
        the write stamp (meta, API keys, documents and chunks): traces, audit, caches, budgets,
        jobs, feedback, evaluation runs, failures. Bumping for them would make every worker read
        its kept values again after each ask or ingestion step."""
        return _Tx(self._conn, self.path, self._local, self._kept.stamp.bump if stamp else None)
