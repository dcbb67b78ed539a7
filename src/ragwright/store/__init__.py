"""Storage: the contract (store/contract/, protocols by concern), the factory that opens a store
from a URL (store/factory.py), and the embedded SQLite implementation."""

from .contract import DocumentWrite, Filters, Store, StoredChunk
from .sqlite import SqliteStore

__all__ = ["DocumentWrite", "Filters", "SqliteStore", "Store", "StoredChunk"]
