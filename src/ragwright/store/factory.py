"""Open the store a URL names; the only place that names a backend class.

    sqlite:///ABSOLUTE/PATH.db      one SQLite file (the default: DATA_DIR/ragwright.db)
    sqlite:RELATIVE/PATH.db         the same, relative to the current directory
    postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?options]   PostgreSQL with pgvector (postgres:// too)

The URL comes from `[store] url` in ragwright.toml or RAGWRIGHT_STORE_URL (config.py); an empty
one is the SQLite file in the data directory, as before there was a choice. Messages name the
URL with its password masked."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from ..errors import ConfigError
from .contract import Store
from .postgres.connection import mask_url
from .timeouts import STATEMENT_TIMEOUT_S

SCHEMES = ("sqlite", "postgresql", "postgres")
USAGE = "use sqlite:///PATH or postgresql://USER@HOST:PORT/DB ([store] url in ragwright.toml, or RAGWRIGHT_STORE_URL)"


def open_store(
    url: str = "",
    *,
    default_path: Path | None = None,
    ann_threshold: int = 250_000,
    bm25_k1: float = 0.9,
    bm25_b: float = 0.4,
    statement_timeout_s: float = STATEMENT_TIMEOUT_S,
) -> Store:
    """The store at `url` (empty: the SQLite file `default_path`), opened and migrated. A URL of
    no known scheme is a ConfigError; a store that cannot be opened (PostgreSQL unreachable, a
    schema newer than this code) is a StoreError naming it. `ann_threshold`: where the SQLite
    store's dense search turns approximate ([retrieval] ann_threshold); PostgreSQL keeps its own
    measured default (store/postgres/store.py), its exact scan being slower than SQLite's
    in-memory one. `statement_timeout_s`: the bound on a read, SQLite's and PostgreSQL's ([store]
    statement_timeout_s)."""
    url = url.strip()
    if not url or scheme_of(url) == "sqlite":
        from .sqlite import SqliteStore

        path = sqlite_path(url) if url else default_path
        if path is None:
            raise ConfigError(f"no store to open: {USAGE}")
        return SqliteStore(
            path, ann_threshold=ann_threshold, bm25_k1=bm25_k1, bm25_b=bm25_b, statement_timeout_s=statement_timeout_s
        )
    from .postgres import PostgresStore

    return PostgresStore(url, bm25_k1=bm25_k1, bm25_b=bm25_b, statement_timeout_s=statement_timeout_s)


def scheme_of(url: str) -> str:
    """The URL's scheme, lower-cased; a ConfigError when it is none of SCHEMES."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in SCHEMES:
        shown = mask_url(url)
        why = f"unknown scheme '{scheme}'" if scheme else "no scheme"
        raise ConfigError(f"store url '{shown}': {why}; {USAGE}")
    return scheme


def sqlite_path(url: str) -> Path:
    """The file a sqlite: URL names: sqlite:///abs/x.db (and SQLAlchemy's sqlite:////abs/x.db) is
    /abs/x.db, sqlite:rel/x.db is rel/x.db; percent-escapes are decoded and ~ expanded."""
    rest = unquote(url.split(":", 1)[1].split("?", 1)[0])
    if rest.startswith("//"):
        rest = rest[2:]  # the authority, empty: what follows is the path
        if not rest.startswith("/") and not rest.startswith("~"):
            raise ConfigError(f"store url '{mask_url(url)}': a host is not allowed for SQLite; {USAGE}")
        rest = "/" + rest.lstrip("/") if rest.startswith("/") else rest
    if not rest:
        raise ConfigError(f"store url '{mask_url(url)}': no file named; {USAGE}")
    return Path(rest).expanduser()


def location(url: str, default_path: Path) -> str:
    """Where the store at `url` is, for messages: the SQLite file, or the URL with its password masked."""
    url = url.strip()
    if not url:
        return str(default_path)
    return str(sqlite_path(url)) if scheme_of(url) == "sqlite" else mask_url(url)
