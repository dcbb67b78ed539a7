"""Filters as PostgreSQL SQL over documents `d`, with the meaning store/sql.py gives them on
SQLite: field names checked against the same pattern, every value bound as a parameter, source
globs with SQLite's GLOB semantics (case-sensitive; * ? [...] and [^...]), metadata values
compared as text (so 2020 matches "2020" typed on a command line), and the access filter."""

from __future__ import annotations

import re
from typing import Any

from ...types import Access
from ..base import Filters
from ..sql import _FIELD  # one pattern of allowed fields for both backends


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
    if not _FIELD.match(field):
        raise ValueError(f"unknown filter field '{field}' (use doc_id, source, format, title or metadata.KEY)")
    values = list(value) if isinstance(value, (list, tuple, set)) else [value]
    if not values:
        return "FALSE", []
    if field.startswith("metadata."):
        path = field[len("metadata."):].split(".")
        texts = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
        return "(d.metadata #>> %s::text[]) = ANY(%s::text[])", [path, texts]
    column = f"d.{field}"
    parts, params = [], []
    for v in values:
        if field == "source" and isinstance(v, str) and any(ch in v for ch in "*?["):
            parts.append(f"{column} ~ %s")
            params.append(glob_regex(v))
        else:
            parts.append(f"{column} = %s")
            params.append(v)
    return "(" + " OR ".join(parts) + ")", params


def glob_regex(pattern: str) -> str:
    """SQLite's GLOB as an anchored POSIX regular expression: * any run, ? one character,
    [abc] / [a-z] / [^abc] a class (']' first in a class is literal); everything else literal."""
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[" and (end := _class_end(pattern, i)) > 0:
            body = pattern[i + 1:end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out) + "$"


def _class_end(pattern: str, start: int) -> int:
    """The index of the ']' closing the class opened at `start`, or -1 (then '[' is literal)."""
    j = start + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1
    end = pattern.find("]", j)
    return end
