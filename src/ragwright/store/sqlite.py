"""The embedded store: one SQLite file in WAL mode holding documents, chunks, per-chunk term
counts (for BM25), vectors and the ingestion manifest. Every write is one transaction, so a crash (even kill -9)
leaves each document either wholly old or wholly new."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import StoreError
from ..types import Access, Chunk, DocumentRecord
from .base import DocumentWrite, Filters, StoredChunk, text_hash
from .schema import migrate
from .bm25 import Analyzer, SparseBM25, encode_counts
from .access import AccessMixin
from .records import RecordsMixin
from .traces import TracesMixin
from .vectors import ExactIndex, build_index

_FIELD = re.compile(r"^(doc_id|source|format|title|tenant|metadata\.[A-Za-z0-9_.-]+)$")


class SqliteStore(RecordsMixin, AccessMixin, TracesMixin):
    """Implements `ragwright.store.Store` on one SQLite file."""

    def __init__(self, path: Path, *, ann_threshold: int = 250_000, bm25_k1: float = 0.9, bm25_b: float = 0.4) -> None:
        self.path = Path(path)
        self.ann_threshold = ann_threshold
        self.bm25_params = (bm25_k1, bm25_b)
        self.analyzer = Analyzer()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON", "secure_delete = ON"):
                self._conn.execute(f"PRAGMA {pragma}")
            migrate(self._conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open the store: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"{self.path.parent}: cannot create the data directory: {exc}") from exc
        self._lock = threading.RLock()
        self._index: ExactIndex | None = None
        self._index_generation = -1
        self._bm25: SparseBM25 | None = None
        self._bm25_generation = -1
        self._vocab: dict[str, int] = {}
        self._allowed_cache: dict[str, tuple[str | None, np.ndarray]] = {}

    # -- writes -------------------------------------------------------------------------------

    def write_documents(self, writes: Sequence[DocumentWrite]) -> None:
        if not writes:
            return
        with self._lock:
            try:
                with self._transaction():
                    self._load_vocab()
                    for w in writes:
                        self._write_one(w)
                    self._bump_generation()
            except BaseException:
                self._vocab = {}  # may hold ids of terms that were rolled back: reload on next use
                raise

    def _write_one(self, w: DocumentWrite) -> None:
        d = w.document
        if len(w.chunks) != len(w.vectors):
            raise ValueError(f"{d.source}: {len(w.chunks)} chunks but {len(w.vectors)} vectors")
        c = self._conn
        existing = c.execute("SELECT doc_id FROM documents WHERE source = ?", (d.source,)).fetchone()
        if existing and existing[0] != d.doc_id:
            c.execute("DELETE FROM documents WHERE doc_id = ?", (existing[0],))
        c.execute("DELETE FROM chunks WHERE doc_id = ?", (d.doc_id,))
        c.execute(
            """INSERT INTO documents(doc_id, source, title, format, content_hash, size, n_chunks, metadata, tenant,
                 groups) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(doc_id) DO UPDATE SET source=excluded.source, title=excluded.title,
                 format=excluded.format, content_hash=excluded.content_hash, size=excluded.size,
                 n_chunks=excluded.n_chunks, metadata=excluded.metadata, tenant=excluded.tenant,
                 groups=excluded.groups, updated_at=strftime('%Y-%m-%dT%H:%M:%fZ','now')""",
            (d.doc_id, d.source, d.title, d.format, d.content_hash, d.size, len(w.chunks), json.dumps(d.metadata),
             d.tenant, json.dumps(sorted(set(d.groups)))),
        )
        vectors = np.ascontiguousarray(w.vectors, dtype=np.float32)
        for chunk, vec in zip(w.chunks, vectors):
            cur = c.execute(
                "INSERT INTO chunks(chunk_id, doc_id, ordinal, text, text_hash, heading_path, page) VALUES (?,?,?,?,?,?,?)",
                (chunk.chunk_id, d.doc_id, chunk.ordinal, chunk.text, text_hash(chunk.context_text(d.title)),
                 json.dumps(chunk.heading_path), chunk.page),
            )
            rowid = cur.lastrowid
            counts = self.analyzer.counts(chunk.context_text(d.title))
            ids = [self._term_id(term) for term in counts]
            c.execute("INSERT INTO chunk_terms(chunk_rowid, counts) VALUES (?, ?)",
                      (rowid, encode_counts(ids, list(counts.values()))))
            c.execute("INSERT INTO vectors(chunk_rowid, vector) VALUES (?, ?)", (rowid, vec.tobytes()))
        c.execute(
            """INSERT INTO manifest(source, doc_id, content_hash, size, mtime_ns, status, error) VALUES (?,?,?,?,?,'ok','')
               ON CONFLICT(source) DO UPDATE SET doc_id=excluded.doc_id, content_hash=excluded.content_hash,
                 size=excluded.size, mtime_ns=excluded.mtime_ns, status='ok', error='',
                 updated_at=strftime('%Y-%m-%dT%H:%M:%fZ','now')""",
            (d.source, d.doc_id, d.content_hash, d.size, w.mtime_ns),
        )

    def record_failure(self, source: str, error: str) -> None:
        """Remember why a file failed; its previously indexed version, if any, stays searchable."""
        with self._lock, self._transaction():
            self._conn.execute(
                """INSERT INTO manifest(source, status, error) VALUES (?, 'failed', ?)
                   ON CONFLICT(source) DO UPDATE SET status='failed', error=excluded.error,
                     updated_at=strftime('%Y-%m-%dT%H:%M:%fZ','now')""",
                (source, error),
            )

    def delete_document(self, doc_id: str) -> bool:
        with self._lock, self._transaction():
            row = self._conn.execute("SELECT source FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
            if row is None:
                return False
            self._conn.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
            self._conn.execute("DELETE FROM manifest WHERE source = ?", (row[0],))
            self._conn.execute("DELETE FROM cache_entries WHERE (namespace, key) IN "
                               "(SELECT namespace, key FROM cache_sources WHERE doc_id = ?)", (doc_id,))
            self._conn.execute("DELETE FROM cache_sources WHERE doc_id = ?", (doc_id,))
            self._delete_traces_of(doc_id)
            self._bump_generation()
        self.checkpoint()
        return True

    def checkpoint(self) -> None:
        """Fold the WAL back into the main file so deleted text does not linger in the log."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError:
            pass  # a reader holds the WAL: the next checkpoint will fold it

    # -- reads --------------------------------------------------------------------------------

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        row = self._one(f"SELECT {_DOC_COLUMNS} FROM documents WHERE doc_id = ?", (doc_id,))
        return _doc(row) if row else None

    def document_by_source(self, source: str) -> DocumentRecord | None:
        row = self._one(f"SELECT {_DOC_COLUMNS} FROM documents WHERE source = ?", (source,))
        return _doc(row) if row else None

    def list_documents(self, filters: Filters | None = None) -> list[DocumentRecord]:
        where, params = _filter_sql(filters)
        rows = self._all(f"SELECT {_DOC_COLUMNS} FROM documents d WHERE 1=1 {where} ORDER BY source", params)
        return [_doc(r) for r in rows]

    def manifest_entry(self, source: str) -> dict[str, Any] | None:
        row = self._one(
            "SELECT source, doc_id, content_hash, size, mtime_ns, status, error FROM manifest WHERE source = ?", (source,)
        )
        keys = ("source", "doc_id", "content_hash", "size", "mtime_ns", "status", "error")
        return dict(zip(keys, row)) if row else None

    def failures(self) -> list[tuple[str, str]]:
        return self._all("SELECT source, error FROM manifest WHERE status = 'failed' ORDER BY source")

    def stats(self) -> dict[str, int]:
        tables = {"documents": "documents", "chunks": "chunks", "term_rows": "chunk_terms", "vectors": "vectors",
                  "failed": "manifest WHERE status = 'failed'"}
        return {name: self._one(f"SELECT count(*) FROM {table}")[0] for name, table in tables.items()}

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock, self._transaction():
            self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        """Reads share the connection with writes: the lock keeps them out of open transactions."""
        with self._lock:
            return self._conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def keyword_search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        index = self._sparse_index()
        with self._lock:
            self._load_vocab()
            term_ids = [self._vocab[t] for t in self.analyzer.terms(query) if t in self._vocab]
        if not term_ids:
            return []
        return self._to_chunk_ids(index.search(term_ids, k, self._allowed(filters)))

    def vector_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        index = self._dense_index()
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        return self._to_chunk_ids(index.search(query, k, self._allowed(filters)))

    def _allowed(self, filters: Filters | None) -> np.ndarray | None:
        """Chunk rowids that pass the filters, for ranking among them only; None when unfiltered.
        Kept per filter until the next write: a server asks with the same access filter again and again."""
        if not filters:
            return None
        key = repr(sorted((k, tuple(v) if isinstance(v, (list, set, tuple)) else v) for k, v in filters.items()))
        with self._lock:
            generation = self.get_meta("generation")
            hit = self._allowed_cache.get(key)
            if hit is not None and hit[0] == generation:
                return hit[1]
            where, params = _filter_sql(filters)
            rows = self._all(
                f"SELECT c.rowid FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE 1=1 {where} "
                "ORDER BY c.rowid", params)
            allowed = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            if len(self._allowed_cache) >= 256:
                self._allowed_cache.pop(next(iter(self._allowed_cache)))
            self._allowed_cache[key] = (generation, allowed)
            return allowed

    def _to_chunk_ids(self, hits: list[tuple[int, float]]) -> list[tuple[str, float]]:
        if not hits:
            return []
        ids = dict(self._chunk_ids([h[0] for h in hits]))
        return [(ids[r], s) for r, s in hits if r in ids]

    def get_chunks(self, chunk_ids: Iterable[str]) -> dict[str, StoredChunk]:
        ids = list(dict.fromkeys(chunk_ids))
        out: dict[str, StoredChunk] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            rows = self._all(
                "SELECT c.chunk_id, c.doc_id, c.ordinal, c.text, c.heading_path, c.page, d.source, d.title "
                f"FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE c.chunk_id IN ({','.join('?' * len(part))})",
                part,
            )
            for cid, doc_id, ordinal, text, heading, page, source, title in rows:
                chunk = Chunk(cid, doc_id, ordinal, text, json.loads(heading), page)
                out[cid] = StoredChunk(chunk, source, title)
        return out

    def reusable_vectors(self, doc_id: str) -> dict[str, np.ndarray]:
        rows = self._all(
            "SELECT c.text_hash, v.vector FROM chunks c JOIN vectors v ON v.chunk_rowid = c.rowid WHERE c.doc_id = ?",
            (doc_id,),
        )
        return {h: np.frombuffer(blob, dtype=np.float32) for h, blob in rows}

    def close(self) -> None:
        with self._lock:
            self.checkpoint()
            self._conn.close()

    # -- internals ----------------------------------------------------------------------------

    def _chunk_ids(self, rowids: list[int]) -> list[tuple[int, str]]:
        marks = ",".join("?" * len(rowids))
        return self._all(f"SELECT rowid, chunk_id FROM chunks WHERE rowid IN ({marks})", rowids)

    def _dense_index(self) -> ExactIndex:
        with self._lock:  # generation and data read together, never across a write
            generation = int(self.get_meta("generation") or 0)
            if self._index is None or generation != self._index_generation:
                ids, blobs = self._column("SELECT chunk_rowid, vector FROM vectors ORDER BY chunk_rowid")
                if len(ids):
                    matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), -1)
                else:
                    matrix = np.zeros((0, 1), dtype=np.float32)
                self._index = build_index(ids, matrix, self.ann_threshold)
                self._index_generation = generation
            return self._index

    def _sparse_index(self) -> SparseBM25:
        with self._lock:
            generation = int(self.get_meta("generation") or 0)
            if self._bm25 is None or generation != self._bm25_generation:
                ids, blobs = self._column("SELECT chunk_rowid, counts FROM chunk_terms ORDER BY chunk_rowid")
                n_terms = self._one("SELECT coalesce(max(id), 0) + 1 FROM terms")[0]
                self._bm25 = SparseBM25(ids, blobs, n_terms, *self.bm25_params)
                self._bm25_generation = generation
            return self._bm25

    def _column(self, sql: str) -> tuple[np.ndarray, list[bytes]]:
        rows = self._conn.execute(sql).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)), [r[1] for r in rows]

    def _load_vocab(self) -> None:
        """Bring the term vocabulary up to date with what other writers added."""
        known = len(self._vocab)
        rows = self._all("SELECT term, id FROM terms WHERE id >= ?", (known,))
        self._vocab.update(rows)

    def _term_id(self, term: str) -> int:
        """The id of a term, adding it inside the current write transaction when new."""
        tid = self._vocab.get(term)
        if tid is None:
            tid = self._vocab[term] = len(self._vocab)
            self._conn.execute("INSERT INTO terms(id, term) VALUES (?, ?)", (tid, term))
        return tid

    def _bump_generation(self) -> None:
        self._conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def _transaction(self) -> "_Tx":
        return _Tx(self._conn, self.path)


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; a full disk becomes a StoreError."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn, self.path = conn, path

    def __enter__(self) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # "database is locked": another writer held it for 30 s
            raise StoreError(f"{self.path}: cannot start a write: {exc}; is another ragwright writing?") from exc

    def __exit__(self, exc_type, exc, tb) -> bool:  # noqa: ANN001
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return False
            except sqlite3.DatabaseError as err:
                exc = err
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower():
            raise StoreError(f"{self.path}: disk full; nothing was written (rolled back): free space and run again") from exc
        if isinstance(exc, sqlite3.DatabaseError):
            raise StoreError(f"{self.path}: write failed and was rolled back: {exc}") from exc
        return False


_DOC_COLUMNS = "doc_id, source, title, format, content_hash, n_chunks, metadata, size, updated_at, tenant, groups"


def _doc(row: tuple) -> DocumentRecord:
    doc_id, source, title, fmt, chash, n, meta, size, updated, tenant, groups = row
    return DocumentRecord(doc_id, source, title, fmt, chash, n, json.loads(meta), size, updated, tenant,
                          json.loads(groups))


def _access_sql(access: Access) -> tuple[str, list[Any]]:
    """A reader sees its tenant's documents that have no groups or share one of its groups."""
    if not isinstance(access, Access):
        raise ValueError("the 'access' filter takes an Access(tenant, groups, admin)")
    if access.admin:
        return "(d.tenant = ?)", [access.tenant]
    marks = ",".join("?" * len(access.groups))
    shared = f" OR EXISTS (SELECT 1 FROM json_each(d.groups) g WHERE g.value IN ({marks}))" if access.groups else ""
    return f"(d.tenant = ? AND (d.groups = '[]'{shared}))", [access.tenant, *access.groups]


def _filter_sql(filters: Filters | None) -> tuple[str, list[Any]]:
    """Filters -> ' AND ...' over documents d; field names are checked, values always bound."""
    if not filters:
        return "", []
    clauses: list[str] = []
    params: list[Any] = []
    for field, value in filters.items():
        if field == "access":
            clause, more = _access_sql(value)
            clauses.append(clause)
            params.extend(more)
            continue
        if not _FIELD.match(field):
            raise ValueError(f"unknown filter field '{field}' (use doc_id, source, format, title or metadata.KEY)")
        values = list(value) if isinstance(value, (list, tuple, set)) else [value]
        if not values:
            clauses.append("0")
            continue
        column = f"json_extract(d.metadata, '$.{field[9:]}')" if field.startswith("metadata.") else f"d.{field}"
        if field.startswith("metadata."):  # 2020 in the metadata matches "2020" typed on a command line
            column, values = f"CAST({column} AS TEXT)", [str(v).lower() if isinstance(v, bool) else str(v)
                                                         for v in values]
        parts = []
        for v in values:
            glob = field == "source" and isinstance(v, str) and any(ch in v for ch in "*?[")
            parts.append(f"{column} GLOB ?" if glob else f"{column} = ?")
            params.append(v)
        clauses.append("(" + " OR ".join(parts) + ")")
    return " AND " + " AND ".join(clauses), params
