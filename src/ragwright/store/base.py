"""The store contract. Retrieval talks only to this protocol, so that a PostgreSQL + pgvector
store can stand in for the embedded SQLite one without touching retrieval code."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..types import Chunk, DocumentRecord

# A filter maps a field to a value or a list of allowed values. Fields: doc_id, source (glob
# patterns allowed), format, title, and metadata.KEY for any key of a document's metadata.
Filters = Mapping[str, Any]


def text_hash(text: str) -> str:
    """The key under which a chunk's vector can be reused when its indexed text has not changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(slots=True)
class StoredChunk:
    chunk: Chunk
    source: str
    title: str


@dataclass(slots=True)
class DocumentWrite:
    """Everything one document turns into; a store writes it all or nothing."""

    document: DocumentRecord
    chunks: list[Chunk]
    vectors: np.ndarray  # (len(chunks), dim), L2-normalised float32
    mtime_ns: int = 0


@runtime_checkable
class Store(Protocol):
    def write_documents(self, writes: Sequence[DocumentWrite]) -> None:
        """Replace each document's chunks and vectors atomically: readers see old or new, never both."""

    def delete_document(self, doc_id: str) -> bool: ...

    def get_document(self, doc_id: str) -> DocumentRecord | None: ...

    def document_by_source(self, source: str) -> DocumentRecord | None: ...

    def list_documents(
        self, filters: Filters | None = None, limit: int | None = None, offset: int = 0
    ) -> list[DocumentRecord]: ...

    def count_documents(self, filters: Filters | None = None) -> int: ...

    def keyword_search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """BM25 over chunk text: (chunk_id, score), best first, filters applied before ranking."""

    def vector_search(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """Cosine similarity: (chunk_id, score), best first, filters applied before ranking."""

    def get_chunks(self, chunk_ids: Iterable[str]) -> dict[str, StoredChunk]: ...

    def reusable_vectors(self, doc_id: str) -> dict[str, np.ndarray]:
        """Vectors of a document's current chunks by text hash, so unchanged chunks skip the embedder."""

    def manifest_entry(self, source: str) -> dict[str, Any] | None:
        """What was last ingested from a source: content_hash, size, mtime_ns, status, error."""

    def record_failure(self, source: str, error: str) -> None:
        """Remember why a source failed, leaving any earlier good version searchable."""

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...
