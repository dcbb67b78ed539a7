"""Filters as PostgreSQL SQL over documents `d`, with the meaning store/sql.py gives them on
SQLite: field names checked against the same pattern, every value bound as a parameter, source
globs with SQLite's GLOB semantics (case-sensitive; * ? [...] and [^...]), metadata values
compared as text (so 2020 matches "2020" typed on a command line), and the access filter."""

from __future__ import annotations

import re
from typing import Any

from ...types import Access
from ..base import Filters

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
    parts, params = [], []
    for v in values:
        if field == "source" and isinstance(v, str) and any(ch in v for ch in "*?["):
            parts.append(f"{column} ~ %s")
            params += [*column_params, glob_regex(v)]
        else:
            parts.append(f"{column} = %s")
            params += [*column_params, v]
    return "(" + " OR ".join(parts) + ")", params


def glob_regex(pattern: str) -> str:
    """SQLite's GLOB as an anchored POSIX regular expression: * any run, ? one character, and
    [...] a class read as SQLite reads it (glob_class); everything else literal."""
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            parsed = glob_class(pattern, i)
            if parsed is None:  # SQLite: an unclosed class matches nothing
                return "".join(out) + "$."
            ranges, invert, i = parsed
            body = "".join(_esc(lo) if lo == hi else f"{_esc(lo)}-{_esc(hi)}" for lo, hi in ranges if lo <= hi)
            out.append(("[^" + body + "]" if body else ".") if invert else ("[" + body + "]" if body else "$."))
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out) + "$"


def glob_class(pattern: str, start: int) -> tuple[list[tuple[str, str]], bool, int] | None:
    """The class opened at `start`, as SQLite's patternCompare reads it: (ranges, inverted, index
    of the closing ']'), or None when unclosed. '^' first inverts; ']' first (after any '^') is
    literal; '-' makes a range between the character before and after it, unless it comes first,
    last, or right after a range (then it is literal); a range whose ends are reversed matches
    nothing (its first character still matches alone)."""
    ranges: list[tuple[str, str]] = []
    i, invert, prior = start + 1, False, ""
    if pattern[i : i + 1] == "^":
        invert, i = True, i + 1
    if pattern[i : i + 1] == "]":
        ranges.append(("]", "]"))
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        ch = pattern[i]
        if ch == "-" and prior and i + 1 < len(pattern) and pattern[i + 1] != "]":
            ranges.append((prior, pattern[i + 1]))  # the character before matched alone, too
            prior, i = "", i + 2
            continue
        ranges.append((ch, ch))
        prior, i = ch, i + 1
    return (ranges, invert, i) if i < len(pattern) else None


def _esc(ch: str) -> str:
    """A character inside a bracket expression of a PostgreSQL ARE."""
    return "\\" + ch if ch in "\\]^-[" else ch
