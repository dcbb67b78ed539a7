"""Documents, chunks and search: the part of the contract that ingestion and retrieval use.

Every backend keeps a write generation (meta 'generation') that each write of documents or
chunks bumps in the same transaction; derived structures (in-memory indexes, kept rows) are valid
for one generation. A reader sees a write whole or not at all: never chunks, vectors or term
counts of two versions of a document together."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ...types import DocumentRecord
from .data import DocumentWrite, Filters, StoredChunk


@runtime_checkable
class MetaStore(Protocol):
    """Small named values beside the documents: the write generation, the embedder a store was
    built with, calibrated thresholds, the learned-version stamp."""

    def get_meta(self, key: str) -> str | None:
        """The value last committed under `key` by any process, or None. A backend may keep what
        it read until some process writes again (SQLite: the write stamp, store/stamp.py), but a
        read after another process's commit returned sees that commit; PostgreSQL keeps
        'generation', 'learned' and 'embedder' up to 0.25 s (store/postgres/meta.py: they are read
        on every search), so another process's commit of those shows within 0.25 s, this
        process's own at once. Inside the calling thread's own write transaction it sees that
        transaction's own values."""

    def set_meta(self, key: str, value: str) -> None:
        """Set `key` to `value` in one transaction, committed before this returns; last writer wins."""

    def add_meta(self, key: str, value: str) -> str:
        """Set `key` to `value` unless it holds a value already; returns the value it holds after
        (the first writer's, whichever process that was): a secret made once per store, which two
        processes making it at the same moment must not both keep."""


@runtime_checkable
class DocumentStore(MetaStore, Protocol):
    """Documents, their chunks and vectors, and the ingestion manifest."""

    def write_documents(self, writes: Sequence[DocumentWrite]) -> None:
        """Write every document of `writes` in ONE transaction, committed before this returns.
        Each replaces the chunks, vectors and term counts of its doc_id; a stored document with
        the same source under another doc_id is deleted; the manifest entry of each source
        becomes status 'ok'; the write generation is bumped once. A concurrent reader sees all
        of these documents old or all new, never a mix. Writers run one at a time (across
        processes too); a writer that cannot start within the backend's lock timeout gets a
        StoreError. On any error (ValueError when a document's chunk and vector counts differ)
        nothing of the call is written. An empty `writes` is a no-op."""

    def delete_document(self, doc_id: str) -> bool:
        """True deletion, in one transaction committed before this returns; False (and nothing
        changed) when no such document is stored. Gone with it: its chunks, vectors and term
        rows, the vocabulary terms no remaining chunk uses, its manifest entry, the cache
        entries made from it (CacheStore.cache_link), the traces that quote it (queued traces are
        written first, so none escapes), its learned relevance marks, its id from feedback's
        marks and citations (feedback keeps the user's own words), and the answers and titles
        it gave evaluation runs' cases (their figures stay: records.forget_in_cases). The bytes
        go too on SQLite, which folds its write-ahead log back right after (secure_delete is
        on); PostgreSQL's dead rows stay in its files until a VACUUM FULL (a plain VACUUM does
        not overwrite them; see the README). Uploaded files are the server's to delete.
        A concurrent search sees the document wholly present or wholly absent."""

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        """The document as last committed, or None."""

    def document_by_source(self, source: str) -> DocumentRecord | None:
        """The document ingested from `source` (a path or URL, as given at ingestion), or None."""

    def list_documents(
        self, filters: Filters | None = None, limit: int | None = None, offset: int = 0
    ) -> list[DocumentRecord]:
        """Documents passing `filters`, ordered by source byte by byte (not by locale), a page of
        `limit` from `offset` when given; read in one snapshot."""

    def count_documents(self, filters: Filters | None = None) -> int:
        """How many documents pass `filters`."""

    def get_chunks(self, chunk_ids: Iterable[str]) -> dict[str, StoredChunk]:
        """The stored chunks among `chunk_ids`, in the order asked (each once); ids not stored are
        left out. All rows come from one snapshot (one write generation): never chunks of two
        versions of a document together. Each carries its document's version (content hash) as
        of that snapshot, for the traces and cached replies made from it (store/quoted.py)."""

    def chunk_texts(self, doc_id: str) -> list[str]:
        """A document's chunk texts in reading order (by ordinal); empty when none is stored."""

    def reusable_vectors(self, doc_id: str) -> dict[str, np.ndarray]:
        """Vectors of a document's current chunks by text hash (data.text_hash of the chunk's
        context text), so unchanged chunks skip the embedder on re-ingestion."""

    def manifest_entry(self, source: str) -> dict[str, Any] | None:
        """What was last ingested from a source: source, doc_id, content_hash, size, mtime_ns,
        status ('ok' or 'failed') and error; None when the source was never seen (or deleted)."""

    def record_failure(self, source: str, error: str) -> None:
        """Mark the source's manifest entry 'failed' with `error`, in one transaction; any earlier
        good version stays stored and searchable (the write generation does not move)."""

    def failures(self) -> list[tuple[str, str]]:
        """(source, error) of every source whose last ingestion failed, ordered by source."""

    def stats(self) -> dict[str, int]:
        """Row counts: documents, chunks, term_rows, vectors, failed (manifest entries). Each count
        is exact when read; counts read while a write commits may straddle it."""

    def close(self) -> None:
        """Write what is queued (traces), release connections and threads. Idempotent: a second
        close does nothing. The store is not used after it."""


@runtime_checkable
class SearchStore(Protocol):
    """Ranked search over the stored chunks. Both searches rank among the chunks that pass
    `filters` only (the access filter included): a restrictive filter never empties the top k
    while k allowed chunks match. A search runs against one write generation: a write committing
    meanwhile is seen wholly or not at all."""

    def keyword_search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """BM25 over chunk text (the store's analyzer, k1 and b): (chunk_id, score), best first, at
        most k. Term statistics are taken over the allowed chunks only, so another tenant's text
        never moves a reader's scores. Both backends give the same scores within 1e-4. Empty when
        no query term is in the vocabulary."""

    def vector_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """Cosine similarity to `vector` (stored vectors are L2-normalised): (chunk_id, score), best
        first, at most k. Exact below the store's ann_threshold candidates, approximate (HNSW,
        recall@10 >= 0.95) above it."""

    def warm(self) -> None:
        """Build or catch up the in-memory indexes now rather than in the first search that needs
        them (a server calls it at start). A backend with nothing to build does nothing."""

    def indexes_current(self) -> bool:
        """Whether a search now would touch only this process's memory and local files: its
        in-memory indexes current (no rebuild or catch-up after a write) and nothing read over a
        network. A server then runs it on its event loop, so a backend whose searches read a
        remote database answers False. False is always safe."""


@runtime_checkable
class CorpusStore(DocumentStore, SearchStore, Protocol):
    """What ingestion and retrieval need: documents, chunks, meta and search."""
