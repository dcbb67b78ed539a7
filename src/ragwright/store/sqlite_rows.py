"""The rows of the SQLite store's documents: one document written (its row, chunks, term counts,
vectors and manifest entry), the term counts of a document's chunks, and chunk rows read in one
snapshot with the write generation they belong to."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

import numpy as np

from ..analysis import Analyzer
from ..types import Chunk
from .base import DocumentWrite, StoredChunk, text_hash
from .bm25 import encode_counts


def write_document(
    c: sqlite3.Connection,
    w: DocumentWrite,
    analyzer: Analyzer,
    term_id: Callable[[str], int],
    replaced: list[bytes],
    stale: dict[str, bool],
) -> set[int]:
    """Writes one document inside a write transaction; collects the term counts of the chunks it
    replaces, returns the term ids it uses (`term_id` adds a new term to the vocabulary).
    `stale` collects the documents whose old text is gone (doc id -> whether the id itself is
    gone): the id that held this source before, and this id when its content changed."""
    d = w.document
    if len(w.chunks) != len(w.vectors):
        raise ValueError(f"{d.source}: {len(w.chunks)} chunks but {len(w.vectors)} vectors")
    existing = c.execute("SELECT doc_id FROM documents WHERE source = ?", (d.source,)).fetchone()
    if existing and existing[0] != d.doc_id:
        replaced += term_blobs(c, existing[0])
        c.execute("DELETE FROM documents WHERE doc_id = ?", (existing[0],))
        stale[existing[0]] = True
    before = c.execute("SELECT content_hash FROM documents WHERE doc_id = ?", (d.doc_id,)).fetchone()
    if before is not None and before[0] != d.content_hash:
        stale.setdefault(d.doc_id, False)
    replaced += term_blobs(c, d.doc_id)
    c.execute("DELETE FROM chunks WHERE doc_id = ?", (d.doc_id,))
    row = w.document_row()
    c.execute(
        """INSERT INTO documents(doc_id, source, title, format, content_hash, size, n_chunks, metadata, tenant,
             groups) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(doc_id) DO UPDATE SET source=excluded.source, title=excluded.title,
             format=excluded.format, content_hash=excluded.content_hash, size=excluded.size,
             n_chunks=excluded.n_chunks, metadata=excluded.metadata, tenant=excluded.tenant,
             groups=excluded.groups, updated_at=strftime('%Y-%m-%dT%H:%M:%fZ','now')""",
        (*row[:-1], json.dumps(row[-1])),  # groups: a JSON array in SQLite
    )
    vectors = np.ascontiguousarray(w.vectors, dtype=np.float32)
    used: set[int] = set()
    for chunk, vec in zip(w.chunks, vectors, strict=True):
        cur = c.execute(
            "INSERT INTO chunks(chunk_id, doc_id, ordinal, text, text_hash, heading_path, page) VALUES (?,?,?,?,?,?,?)",
            (
                chunk.chunk_id,
                d.doc_id,
                chunk.ordinal,
                chunk.text,
                text_hash(chunk.context_text(d.title)),
                json.dumps(chunk.heading_path),
                chunk.page,
            ),
        )
        rowid = cur.lastrowid
        counts = analyzer.counts(chunk.context_text(d.title))
        ids = [term_id(term) for term in counts]
        used.update(ids)
        c.execute(
            "INSERT INTO chunk_terms(chunk_rowid, counts) VALUES (?, ?)",
            (rowid, encode_counts(ids, list(counts.values()))),
        )
        c.execute("INSERT INTO vectors(chunk_rowid, vector) VALUES (?, ?)", (rowid, vec.tobytes()))
    c.execute(
        """INSERT INTO manifest(source, doc_id, content_hash, size, mtime_ns, status, error)
           VALUES (?,?,?,?,?,'ok','')
           ON CONFLICT(source) DO UPDATE SET doc_id=excluded.doc_id, content_hash=excluded.content_hash,
             size=excluded.size, mtime_ns=excluded.mtime_ns, status='ok', error='',
             updated_at=strftime('%Y-%m-%dT%H:%M:%fZ','now')""",
        (d.source, d.doc_id, d.content_hash, d.size, w.mtime_ns),
    )
    return used


def term_blobs(conn: sqlite3.Connection, doc_id: str) -> list[bytes]:
    """The term counts of a document's chunks, read inside a write before they are deleted."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT t.counts FROM chunk_terms t JOIN chunks c ON c.rowid = t.chunk_rowid WHERE c.doc_id = ?",
            (doc_id,),
        )
    ]


def fetch_chunks(conn: sqlite3.Connection, ids: list[str], writing: bool) -> tuple[int, dict[str, StoredChunk]]:
    """(write generation, rows) read in one snapshot: `conn` is the writer's inside its own write
    (`writing`, already in a transaction), else a reader's, in a read transaction of its own."""
    out: dict[str, StoredChunk] = {}
    if not writing:
        conn.execute("BEGIN")
    try:
        generation = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            rows = conn.execute(
                "SELECT c.chunk_id, c.doc_id, c.ordinal, c.text, c.heading_path, c.page, d.source, d.title, "
                "d.content_hash "
                "FROM chunks c JOIN documents d ON d.doc_id = c.doc_id "
                f"WHERE c.chunk_id IN ({','.join('?' * len(part))})",
                part,
            ).fetchall()
            for cid, doc_id, ordinal, text, heading, page, source, title, version in rows:
                chunk = Chunk(cid, doc_id, ordinal, text, json.loads(heading), page)
                out[cid] = StoredChunk(chunk, source, title, version)
    finally:
        if not writing:
            conn.execute("COMMIT")
    return generation, out
