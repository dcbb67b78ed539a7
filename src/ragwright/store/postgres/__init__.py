"""The PostgreSQL + pgvector store (the `postgres` extra: pip install 'ragwright[postgres]').

Importing this package needs no driver; opening a PostgresStore without psycopg installed is a
StoreError that names the extra."""

from .connection import mask_url
from .store import DEFAULT_ANN_THRESHOLD, PostgresStore

__all__ = ["DEFAULT_ANN_THRESHOLD", "PostgresStore", "mask_url"]
