"""The PostgreSQL store's way in: one connection pool per store, transactions that turn driver
errors into StoreErrors naming the server (never its password), and the serialised write.

Every write that changes documents or chunks starts by bumping the write generation in `meta`:
the row lock it takes makes such writes run one after another across all processes (as SQLite's
BEGIN IMMEDIATE does for one file), so term ids and chunk rowids are handed out in commit order,
which is what lets a reader refresh its in-memory index from "everything after generation G"."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ...errors import StoreError, StoreUnavailable
from ..timeouts import STATEMENT_TIMEOUT_S, checked_timeout, timed_out

EXTRA_HINT = "pip install 'ragwright[postgres]'"
# Session settings of every pooled connection. Iterative index scans (pgvector 0.8) let a filtered
# HNSW query go on scanning until LIMIT rows pass the filter; relaxed order is the fast mode, and the
# caller re-sorts what it gets by distance. ef_search 100: recall@10 >= 0.95 with margin (measured).
# While the server is failing (the last transaction could not reach it), a request waits this
# long for a connection rather than the pool's whole timeout: during a restart every request
# answers 503 within a second or so instead of piling up; the first success ends it.
FAILING_WAIT_S = 1.0
RETRY_AFTER_S = 1.0  # what a 503 tells a client when the database is restarting or the pool is full
SESSION_SETTINGS = {"hnsw.iterative_scan": "relaxed_order", "hnsw.ef_search": "100"}


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None and parts.scheme and parts.password is not None:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return re.sub(r"(password\s*=\s*)('[^']*'|[^\s&]+)", r"\1***", url)


def _scrub(message: str, url: str) -> str:
    """A driver message with the URL's password taken out, should the driver have quoted it."""
    try:
        secret = urlsplit(url).password
    except ValueError:
        secret = None
    return message.replace(secret, "***") if secret else message


def import_driver() -> Any:
    """psycopg, or a StoreError naming the extra that installs it."""
    try:  # the two unused names are imported to check, here and once, that the extra is whole
        import pgvector.psycopg  # noqa: F401
        import psycopg
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise StoreError(
            f"the PostgreSQL store needs psycopg, psycopg-pool and pgvector ({exc.name} is missing): {EXTRA_HINT}"
        ) from exc
    return psycopg


class Database:
    """A pool of connections to one database. `read()` and `write()` are transactions; errors
    from the driver leave as StoreError("PostgreSQL at URL: ..."), with the transaction rolled back.
    The server unreachable (a broken connection, a restart) or no connection free within
    `timeout_s` (FAILING_WAIT_S while failing) is StoreUnavailable, which a server answers with
    503 and Retry-After; the pool reconnects by itself once the server is back (nothing to restart).
    A read statement running past `statement_timeout_s` (0: never) is cancelled by the server and
    is StoreUnavailable too, naming the setting."""

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        statement_timeout_s: float = STATEMENT_TIMEOUT_S,
    ) -> None:
        self.url, self.shown = url, mask_url(url)
        # writes (which may wait for the write lock behind a long ingestion) and snapshot reads
        # (the keyword index read whole) are not bounded: see write() and read()
        self.statement_timeout_s = checked_timeout(statement_timeout_s)
        self.psycopg = import_driver()
        self.connect_timeout_s = connect_timeout_s
        self.timeout_s = timeout_s
        self._sizes = (min_size, max_size)
        self.pool: Any = None
        self._checking = threading.Lock()
        self._failing = False  # the last transaction found the server unreachable or the pool full

    def connect(self, **options: Any) -> Any:
        """One connection outside the pool (migrations, checks), or a StoreError saying why not."""
        try:
            return self.psycopg.connect(self.url, connect_timeout=max(1, int(self.connect_timeout_s)), **options)
        except self.psycopg.Error as exc:
            raise self.error("cannot connect", exc) from exc

    def open_pool(self) -> None:
        """Open the pool after the schema exists (each connection registers the vector type)."""
        from psycopg_pool import ConnectionPool

        self.pool = ConnectionPool(
            self.url,
            min_size=self._sizes[0],
            max_size=self._sizes[1],
            open=False,
            timeout=self.timeout_s,
            configure=self._configure,
            name="ragwright-store",
            # no server-side prepared statements: the first write changes the vector column's
            # type (ALTER TABLE), which breaks a plan another connection prepared before it
            # ("cached plan must not change result type"); PgBouncer's transaction mode cannot
            # carry them either
            kwargs={
                "connect_timeout": max(1, int(self.connect_timeout_s)),
                "autocommit": True,
                "prepare_threshold": None,
            },
        )
        self.pool.open(wait=False)

    def _configure(self, conn: Any) -> None:
        from pgvector.psycopg import register_vector

        register_vector(conn)
        timeout = {"statement_timeout": f"{round(self.statement_timeout_s * 1000)}ms"}
        for name, value in {**SESSION_SETTINGS, **timeout}.items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))

    def error(self, doing: str, exc: BaseException) -> StoreError:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreError(f"PostgreSQL at {self.shown}: {doing}: {_scrub(first, self.url)}")

    @contextmanager
    def read(self, snapshot: bool = False, binary: bool = False, local: bool = False) -> Iterator[Any]:
        """A cursor for reading. By default each statement is its own transaction (autocommit: one
        round trip, where BEGIN ... COMMIT around a lone SELECT made three); `snapshot`: one
        REPEATABLE READ transaction, so that several queries see one committed state (an index
        refresh reads its generation and rows together); `local`: one transaction, for SET LOCAL;
        `binary`: results in binary (vectors: 14x faster to read than as text)."""
        with self._transaction("read", snapshot or local) as conn:
            if snapshot:  # it reads whole tables (an index refresh): not bounded by the statement timeout
                conn.execute(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL statement_timeout = 0"
                )
            with conn.cursor(binary=binary) as cur:
                yield cur

    @contextmanager
    def write(self, generation: bool = True) -> Iterator[tuple[Any, int]]:
        """(cursor, generation) in one transaction. With `generation`, the write generation is bumped
        first: its row lock serialises such writes, and the new value is what this write's chunks carry."""
        with self._transaction("write", True) as conn, conn.cursor() as cur:
            cur.execute("SET LOCAL statement_timeout = 0")  # a write may wait for the write lock
            value = 0
            if generation:
                cur.execute(
                    "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'generation' RETURNING value::bigint"
                )
                value = cur.fetchone()[0]
            yield cur, value

    @contextmanager
    def _transaction(self, doing: str, transaction: bool = True) -> Iterator[Any]:
        from psycopg_pool import PoolTimeout

        if self.pool is None:
            raise StoreError(f"PostgreSQL at {self.shown}: the store is closed")
        wait = min(self.timeout_s, FAILING_WAIT_S) if self._failing else self.timeout_s
        try:
            with self.pool.connection(timeout=wait) as conn:
                if not transaction:
                    yield conn
                else:
                    with conn.transaction():
                        yield conn
            self._failing = False
        except PoolTimeout as exc:
            self._failing = True
            raise StoreUnavailable(
                f"PostgreSQL at {self.shown}: no free connection within {wait:g} s "
                f"(pool of {self._sizes[1]}): the server is busy or unreachable; try again",
                retry_after_s=RETRY_AFTER_S,
            ) from exc
        except self.psycopg.errors.QueryCanceled as exc:
            if doing == "read" and self.statement_timeout_s > 0:  # a 503: the server answered, too slowly
                raise StoreUnavailable(
                    str(self.error(timed_out(self.statement_timeout_s), exc)),
                    retry_after_s=RETRY_AFTER_S,
                ) from exc
            raise self.error(f"{doing} cancelled", exc) from exc
        except self.psycopg.OperationalError as exc:
            self._failing = True
            self._recheck_pool()  # the other pooled connections are likely as dead as this one
            raise StoreUnavailable(
                str(
                    self.error(
                        f"{doing} failed, the server is unreachable (a transaction not committed is rolled back)", exc
                    )
                ),
                retry_after_s=RETRY_AFTER_S,
            ) from exc
        except self.psycopg.DatabaseError as exc:
            raise self.error(f"{doing} failed and was rolled back", exc) from exc

    def _recheck_pool(self) -> None:
        """Have the pool test its idle connections and replace the broken ones, in the background:
        after a server restart every pooled connection is dead, and without this each would fail
        one more request before the pool noticed. One check at a time."""
        pool = self.pool
        if pool is None or not self._checking.acquire(blocking=False):
            return

        def check() -> None:
            try:
                pool.check()
            except Exception:  # noqa: BLE001  still down: the next failure checks again
                pass
            finally:
                self._checking.release()

        threading.Thread(target=check, name="ragwright-pool-check", daemon=True).start()

    def close(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.close()
