"""Filters as PostgreSQL SQL over documents `d`, with the meaning store/sql.py gives them on
SQLite: field names checked against the same pattern, every value bound as a parameter, source
globs with SQLite's GLOB semantics (case-sensitive; * ? [...] and [^...]; globs.py), all of a
filter's globs matched by one regex, metadata values
compared as text (so 2020 matches "2020" typed on a command line), and the access filter."""

from __future__ import annotations

from typing import Any

from ...types import Access
from ..base import Filters
from ..globs import glob_class as glob_class
from ..globs import glob_regex as glob_regex
from ..globs import globs_regex, is_glob

# _FIELD: one pattern of allowed fields for both backends
from ..sql import _FIELD, DIGESTS_REGEX, ShownSource, check_filter_bounds, shown_source_sql


def access_sql(access: Access) -> tuple[str, list[Any]]:
    """A reader sees its tenant's documents that have no groups or share one of its groups."""
    if not isinstance(access, Access):
        raise ValueError("the 'access' filter takes an Access(tenant, groups, admin)")
    if access.admin:
        return "(d.tenant = %s)", [access.tenant]
    if not access.groups:
        return "(d.tenant = %s AND d.groups = '{}')", [access.tenant]
    return "(d.tenant = %s AND (d.groups = '{}' OR d.groups && %s::text[]))", [access.tenant, list(access.groups)]


def filter_sql(filters: Filters | None) -> tuple[str, list[Any]]:
    """Filters -> ' AND ...' over documents d, and its parameters."""
    if not filters:
        return "", []
    check_filter_bounds(filters)  # a ValueError naming the limit, as on SQLite
    clauses: list[str] = []
    params: list[Any] = []
    for field, value in filters.items():
        if field == "access":
            clause, more = access_sql(value)
        else:
            clause, more = _field_sql(field, value)
        clauses.append(clause)
        params.extend(more)
    return " AND " + " AND ".join(clauses), params


def _field_sql(field: str, value: Any) -> tuple[str, list[Any]]:
    if not _FIELD.fullmatch(field):
        raise ValueError(f"unknown filter field '{field}' (use doc_id, source, format, title or metadata.KEY)")
    values = list(value) if isinstance(value, (list, tuple, set)) else [value]
    column, column_params = f"d.{field}", list[Any]()
    if isinstance(value, ShownSource) and field == "source":  # as the API shows it (store/sql.py)
        values = list(value.values)
        column, column_params = shown_source_sql(value.root, "%s", DIGESTS_REGEX)
    if not values:
        return "FALSE", []
    if field.startswith("metadata."):
        path = field[len("metadata.") :].split(".")
        texts = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
        return "(d.metadata #>> %s::text[]) = ANY(%s::text[])", [path, texts]
    globs = [v for v in values if field == "source" and is_glob(v)]
    equal = [v for v in values if not (field == "source" and is_glob(v))]
    parts, params = [], []
    if globs:  # one regex for all: compiled once per query (globs.globs_regex)
        parts.append(f"{column} ~ %s")
        params += [*column_params, globs_regex(globs)]
    if equal:  # one array compared as text, as SQLite compares with its TEXT columns: doc_id 7 is "7"
        parts.append(f"{column} = ANY(%s::text[])")
        params += [*column_params, [str(int(v)) if isinstance(v, bool) else str(v) for v in equal]]
    return "(" + " OR ".join(parts) + ")", params
