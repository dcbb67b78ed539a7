"""Filters mean on PostgreSQL what they mean on SQLite: source globs checked against SQLite's own
GLOB, and values always bound (a field name is never a way into the SQL)."""

from __future__ import annotations

import sqlite3

import pytest

from ragwright.store.postgres.filters import filter_sql, glob_regex
from ragwright.types import Access

PATTERNS = [
    "/docs/*.md",
    "/docs/?.md",
    "/docs/[ab].md",
    "/docs/[^ab].md",
    "/docs/[a-c]*",
    "*[]]*",
    "*.(md)",
    "/a+b/*",
    "/docs/[*.md",
    "*\\*",
    "*$*",
    "/DOCS/*",
    "/docs/[]a].md",
    "/docs/[a-]*",
    "/docs/[!a].md",
    "/docs/[*]*",
    "/docs/[.]md",
    "*[^]]*",
    "/docs/[z-a]*",
]
PATHS = [
    "/docs/a.md",
    "/docs/c.md",
    "/docs/ab.md",
    "/docs/x.txt",
    "/docs/].md",
    "/x/file.(md)",
    "/a+b/c",
    "/aab/c",
    "/docs/[x.md",
    "C:\\dir\\*",
    "/price$5",
    "/docs/A.md",
    "/DOCS/a.md",
    "/docs/a.md\n",
    "/docs/-x",
    "/docs/!.md",
    "/docs/*x",
    "/docs/.md",
    "/docs/z1",
    "/docs/b1",
]


def test_source_globs_match_what_sqlite_glob_matches(postgres_url):
    import psycopg

    lite = sqlite3.connect(":memory:")
    with psycopg.connect(postgres_url) as conn:
        for pattern in PATTERNS:
            regex = glob_regex(pattern)
            for path in PATHS:
                want = bool(lite.execute("SELECT ? GLOB ?", (path, pattern)).fetchone()[0])
                got = conn.execute("SELECT %s ~ %s", (path, regex)).fetchone()[0]
                assert got == want, (pattern, path, regex)


def test_values_are_bound_and_fields_checked():
    where, params = filter_sql({"metadata.year": [2020, True], "access": Access("t", ("g",)), "title": "x' OR 1=1"})
    assert "2020" not in where and "x'" not in where and "OR 1=1" not in where
    assert params == [["year"], ["2020", "true"], "t", ["g"], ["x' OR 1=1"]]
    with pytest.raises(ValueError, match="unknown filter field"):
        filter_sql({"metadata.a') OR (1=1": "x"})
