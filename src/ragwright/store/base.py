"""The store contract, kept importable under its first name: the protocols and the values that
cross them now live in store/contract/, split by concern."""

from __future__ import annotations

from .contract import (
    AuditEntry,
    CorpusStore,
    DocumentWrite,
    Filters,
    Store,
    StoredChunk,
    Traced,
    text_hash,
)

__all__ = ["AuditEntry", "CorpusStore", "DocumentWrite", "Filters", "Store", "StoredChunk", "Traced", "text_hash"]
