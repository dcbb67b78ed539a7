"""SQL pieces of the SQLite store: the write transaction, document rows, and filters as SQL."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

from .._uploads_layout import DIGEST, DIGEST_CHARS, DIGESTS_LEN, FOLDER
from ..errors import StoreError
from ..types import Access, DocumentRecord
from .base import Filters
from .globs import MAX_FILTER_GLOBS as MAX_FILTER_GLOBS
from .globs import check_globs, is_glob

Row = tuple[Any, ...]  # one row as sqlite3 returns it


class WriteFlag(Protocol):
    """The per-thread state a transaction marks (SqliteStore's threading.local)."""

    writing: bool


# Used with fullmatch, and anchored with \Z (not `$`, which also matches before a final newline:
# "source\n" passed as `source`, unwrapped by the API's ShownSource and matched against the server path).
_FIELD = re.compile(r"^(doc_id|source|format|title|tenant|metadata\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\Z")
# Bounds on a caller's filters, checked here for every caller and by the API's models (422): SQLite
# refuses more than 32,766 bound values and expressions deeper than 1,000, and said so as a bare
# OperationalError (a 500 outside the API's error shape) to a list of 40,000 values.
# A `source` pattern has its own, tighter bounds (globs.py: MAX_FILTER_GLOBS and the others).
MAX_FILTER_FIELDS = 16
MAX_FILTER_VALUES = 1000  # in one field's list
MAX_FILTER_CHARS = 1000  # in one value


class Tx:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; a full disk becomes a StoreError."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, local: WriteFlag, on_commit: Callable[[], None] | None = None
    ) -> None:
        self.conn, self.path, self.local = conn, path, local  # local.writing: this thread reads its own writes
        self.on_commit = on_commit  # after COMMIT (the write stamp)

    def __enter__(self) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # "database is locked": another writer held it for 30 s
            raise StoreError(f"{self.path}: cannot start a write: {exc}; is another ragwright writing?") from exc
        self.local.writing = True

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        self.local.writing = False
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                if self.on_commit is not None:
                    self.on_commit()
                return False
            except sqlite3.DatabaseError as err:
                exc = err
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower():
            raise StoreError(
                f"{self.path}: disk full; nothing was written (rolled back): free space and run again"
            ) from exc
        if isinstance(exc, sqlite3.DatabaseError):
            raise StoreError(f"{self.path}: write failed and was rolled back: {exc}") from exc
        return False


DOC_COLUMNS = "doc_id, source, title, format, content_hash, n_chunks, metadata, size, updated_at, tenant, groups"


def doc_from_row(row: Row) -> DocumentRecord:
    doc_id, source, title, fmt, chash, n, meta, size, updated, tenant, groups = row
    return DocumentRecord(
        doc_id, source, title, fmt, chash, n, json.loads(meta), size, updated, tenant, json.loads(groups)
    )


def access_sql(access: Access) -> tuple[str, list[Any]]:
    """A reader sees its tenant's documents that have no groups or share one of its groups."""
    if not isinstance(access, Access):
        raise ValueError("the 'access' filter takes an Access(tenant, groups, admin)")
    if access.admin:
        return "(d.tenant = ?)", [access.tenant]
    marks = ",".join("?" * len(access.groups))
    shared = f" OR EXISTS (SELECT 1 FROM json_each(d.groups) g WHERE g.value IN ({marks}))" if access.groups else ""
    return f"(d.tenant = ? AND (d.groups = '[]'{shared}))", [access.tenant, *access.groups]


def check_filter_bounds(filters: Filters) -> None:
    """A ValueError (the API's 400) naming the bound a filter passes."""
    if len(filters) > MAX_FILTER_FIELDS + ("access" in filters):
        raise ValueError(f"at most {MAX_FILTER_FIELDS} filter fields ({len(filters)} given)")
    for field, value in filters.items():
        if len(str(field)) > MAX_FILTER_CHARS:
            raise ValueError(f"a filter field name has more than {MAX_FILTER_CHARS} characters")
        if not str(field).isprintable():  # "source\n" is no spelling of `source`
            raise ValueError(f"filter field {str(field)!r}: a field name holds no control character")
        values = _values(value)
        if len(values) > MAX_FILTER_VALUES:
            raise ValueError(f"filter '{field}': at most {MAX_FILTER_VALUES} values ({len(values)} given)")
        if any(isinstance(v, str) and len(v) > MAX_FILTER_CHARS for v in values):
            raise ValueError(f"filter '{field}': a value has more than {MAX_FILTER_CHARS} characters")
        if field == "source":
            check_globs(values)


@dataclass(frozen=True)
class ShownSource:
    """A `source` filter as an API key writes it, matched against the source as the API shows it
    (server/uploads.PathScrubber: an upload as its file name, anything else under the data dir as
    `<data dir>/...`, other paths as they are), not against the server path: a pattern matched
    against that spelled the data dir out one character at a time. `root` is the resolved data dir."""

    root: str
    values: tuple[Any, ...]

    @classmethod
    def of(cls, data_dir: Path, value: Any) -> ShownSource:
        """A filter's `source` value (one pattern or a list) as matched under `data_dir`."""
        return cls(str(data_dir.resolve()), tuple(value if isinstance(value, list) else [value]))


def shown_source_sql(root: str, mark: str, digests_test: str) -> tuple[str, list[Any]]:
    """The source as the API shows it, as SQL over d.source (SQLite and PostgreSQL alike), and its
    parameters; `mark` is the backend's placeholder, `digests_test` tests the two folder digests."""
    uploads, n = f"{root}/{FOLDER}/", len(root)
    sql = (
        f"(CASE WHEN substr(d.source, 1, {len(uploads)}) = {mark} "
        f"AND substr(d.source, {len(uploads) + 1}, {DIGESTS_LEN}) {digests_test} "
        f"THEN substr(d.source, {len(uploads) + DIGESTS_LEN + 1}) "
        f"WHEN substr(d.source, 1, {n + 1}) = {mark} THEN '<data dir>' || substr(d.source, {n + 1}) "
        "ELSE d.source END)"
    )
    return sql, [uploads, root + "/"]


_HEX = "[0-9a-f]" * DIGEST_CHARS
_DIGESTS_GLOB = f"GLOB '{_HEX}/{_HEX}/'"
DIGESTS_REGEX = f"~ '^{DIGEST}/{DIGEST}/$'"  # PostgreSQL's test of the same


def filter_sql(filters: Filters | None) -> tuple[str, list[Any]]:
    """Filters -> ' AND ...' over documents d; field names are checked, values always bound."""
    if not filters:
        return "", []
    check_filter_bounds(filters)
    clauses: list[str] = []
    params: list[Any] = []
    for field, value in filters.items():
        clause, more = access_sql(value) if field == "access" else _field_sql(field, value)
        clauses.append(clause)
        params.extend(more)
    return " AND " + " AND ".join(clauses), params


def _field_sql(field: str, value: Any) -> tuple[str, list[Any]]:
    if not _FIELD.fullmatch(field):
        raise ValueError(f"unknown filter field '{field}' (use doc_id, source, format, title or metadata.KEY)")
    values = _values(value)
    if not values:
        return "0", []
    column, column_params = f"d.{field}", list[Any]()
    if isinstance(value, ShownSource) and field == "source":
        column, column_params = shown_source_sql(value.root, "?", _DIGESTS_GLOB)
    if field.startswith("metadata."):  # 2020 in the metadata matches "2020" typed on a command line
        path = "'$" + "".join(f'."{key}"' for key in field[9:].split(".")) + "'"  # _FIELD: [A-Za-z0-9_-]
        # json_extract gives 1 for a JSON true: booleans are compared by their JSON type instead
        column = (
            f"CASE json_type(d.metadata, {path}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            f"ELSE CAST(json_extract(d.metadata, {path}) AS TEXT) END"
        )
        values = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    globs = [v for v in values if field == "source" and is_glob(v)]
    equal = [v for v in values if not (field == "source" and is_glob(v))]
    parts = [f"{column} GLOB ?" for _ in globs]  # at most MAX_FILTER_GLOBS, each bounded (globs.py)
    params = [x for g in globs for x in (*column_params, g)]
    if equal:  # IN, not `= ? OR = ?`: SQLite refuses an expression deeper than 1,000
        parts.append(f"{column} IN ({','.join('?' * len(equal))})")
        params += [*column_params, *equal]
    return "(" + " OR ".join(parts) + ")", params


def _values(value: Any) -> list[Any]:
    """A filter's values: a list, tuple or set of them, a ShownSource's, or one value."""
    if isinstance(value, ShownSource):
        return list(value.values)
    return list(value) if isinstance(value, (list, tuple, set)) else [value]
