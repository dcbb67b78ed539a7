"""`source` patterns are bounded to what people write (store/globs.py): review 15, finding 4 sent
100 patterns of 1,000 characters, each a `*` and a bracket class of ~1,000 characters, which
SQLite's GLOB scans at every position of every readable source (3.3 s over 150 documents, on
the event loop) and PostgreSQL recompiled for every row. The same ValueError, naming the
bound, for every caller: the API (422), the MCP tools, the CLI and the library."""

from __future__ import annotations

import sqlite3
import time

import pytest

from ragwright.store.globs import (
    MAX_FILTER_GLOBS,
    MAX_GLOB_CHARS,
    MAX_GLOB_CLASS,
    MAX_GLOB_STARS,
    check_globs,
    globs_regex,
)
from ragwright.store.sql import check_filter_bounds, filter_sql

# what people write: a folder, an extension, a year, a name with a wildcard, gitignore habits
ORDINARY = [
    "/docs/*.md",
    "*.pdf",
    "*/reports/*-202[0-4]-*.md",
    "*[0-9][0-9][0-9][0-9]*",
    "<data dir>/notes/*",
    "handbook-v?.docx",
    "**/policies/**/*.[mt][dx]*",
    "*[!a-z]*",
    "[^.]*",
]


def review15_sqlite_attack(tag: str = "a") -> list[str]:
    """d_glob_blocks_event_loop.py's filter."""
    return ["*[" + "!-!" * 330 + f"{tag}{i:03d}]" for i in range(100)]


def review15_postgres_attack() -> list[str]:
    """b_pg_glob_regex_dos.py's filter."""
    return [("*a" * 500)[:990] + f"x{i:03d}" for i in range(100)]


def test_ordinary_patterns_pass():
    check_globs(ORDINARY[:MAX_FILTER_GLOBS])
    check_filter_bounds({"source": ORDINARY[:MAX_FILTER_GLOBS], "format": "md"})
    where, params = filter_sql({"source": ORDINARY[:MAX_FILTER_GLOBS]})
    assert where.count("GLOB ?") == MAX_FILTER_GLOBS and params == ORDINARY[:MAX_FILTER_GLOBS]


@pytest.mark.parametrize("attack", [review15_sqlite_attack(), review15_postgres_attack()])
def test_the_review_15_filters_are_refused(attack):
    with pytest.raises(ValueError, match=f"at most {MAX_FILTER_GLOBS} patterns with"):
        filter_sql({"source": attack})
    for one in attack[:3]:  # one at a time: each is still refused, by its own bound
        with pytest.raises(ValueError, match=r"filter 'source': a (pattern|\[\.\.\.\] class)"):
            filter_sql({"source": [one[:MAX_GLOB_CHARS]]})


@pytest.mark.parametrize(
    ("at_limit", "over", "message"),
    [
        (
            [f"*{i}" for i in range(MAX_FILTER_GLOBS)] + ["plain-a", "plain-b"],  # plain sources do not count
            [f"*{i}" for i in range(MAX_FILTER_GLOBS + 1)],
            f"at most {MAX_FILTER_GLOBS} patterns with * ? or [ ({MAX_FILTER_GLOBS + 1} given)",
        ),
        (
            ["*" + "x" * (MAX_GLOB_CHARS - 1)],
            ["*" + "x" * MAX_GLOB_CHARS],
            f"a pattern has at most {MAX_GLOB_CHARS} characters ({MAX_GLOB_CHARS + 1} given)",
        ),
        (
            ["a*" * MAX_GLOB_STARS + "[*][*][*]"],  # a star inside a class is a character
            ["a*" * (MAX_GLOB_STARS + 1)],
            f"a pattern has at most {MAX_GLOB_STARS} '*' ({MAX_GLOB_STARS + 1} given)",
        ),
        (
            ["*[" + "a" * MAX_GLOB_CLASS + "]*"],
            ["*[" + "a" * (MAX_GLOB_CLASS + 1) + "]*"],
            f"a [...] class holds at most {MAX_GLOB_CLASS} characters ({MAX_GLOB_CLASS + 1} given)",
        ),
        (
            ["*[" + "a" * MAX_GLOB_CLASS],  # unclosed: SQLite reads a class to the end of the pattern
            ["*[" + "a" * (MAX_GLOB_CLASS + 1)],
            f"a [...] class holds at most {MAX_GLOB_CLASS} characters",
        ),
    ],
)
def test_each_bound_names_itself(at_limit, over, message):
    check_filter_bounds({"source": at_limit})
    with pytest.raises(ValueError) as caught:
        check_filter_bounds({"source": over})
    assert str(caught.value).startswith("filter 'source': ") and message in str(caught.value)


def test_only_source_values_are_patterns():
    """title, doc_id and metadata values are compared, never globbed: a '*' there is bounded by nothing more."""
    check_filter_bounds({"title": "*" * 900, "doc_id": ["[" + "a" * 500] * 20, "metadata.k": "*a" * 400})


def test_the_worst_allowed_filter_is_cheap_in_sqlite():
    """The costliest shape within the bounds (a star, then classes to the length limit, that all
    match a long run of one letter before failing at the end) against a 250-character source:
    measured ~1.1 ms a row for 8 patterns; the review's filter cost ~24 ms a row."""
    pattern = "*" + ("[" + "b" * (MAX_GLOB_CLASS - 1) + "a]") * 7
    pattern += "z" * (MAX_GLOB_CHARS - len(pattern) - 1)
    patterns = [pattern + str(i) for i in range(MAX_FILTER_GLOBS)]
    check_globs(patterns)
    source = "/srv/data/" + "a" * 240
    conn = sqlite3.connect(":memory:")
    started = time.process_time()
    for _ in range(20):
        for p in patterns:
            assert conn.execute("SELECT ? GLOB ?", (source, p)).fetchone() == (0,)
    per_row = (time.process_time() - started) / 20
    assert per_row < 0.008, per_row  # the review's: 0.024 s a row


def test_many_patterns_are_one_anchored_regex():
    regex = globs_regex(["/docs/*.md", "*[0-9]", "a?c"])
    assert regex == r"^(?:/docs/.*\.md|.*[00-9]|a.c)$"  # '0' also alone, as glob_class reads a range
