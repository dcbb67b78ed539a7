"""Storage: a small protocol and the embedded SQLite implementation."""

from .base import DocumentWrite, Filters, Store, StoredChunk
from .sqlite import SqliteStore

__all__ = ["DocumentWrite", "Filters", "SqliteStore", "Store", "StoredChunk"]
