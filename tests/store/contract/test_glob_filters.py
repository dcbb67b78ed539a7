"""`source` patterns on every backend: up to MAX_FILTER_GLOBS in one filter match what SQLite's
GLOB says of each (PostgreSQL: all of them as one regex, store/globs.py), and a filter past the
bounds is the same ValueError from every read that takes filters (review 15, finding 4)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from ragwright.store.globs import MAX_FILTER_GLOBS
from ragwright.types import Access

from .backends import document

SOURCES = [
    "/docs/a.md",
    "/docs/ab.md",
    "/docs/x.txt",
    "/docs/].md",
    "/docs/[x.md",
    "/docs/A.md",
    "/DOCS/a.md",
    "/docs/a.md\n",
    "/docs/-x",
    "/docs/!.md",
    "/docs/*x",
    "/x/file.(md)",
    "/a+b/c",
    "/price$5",
    "/reports/q1-2023-sales.md",
    "/reports/q1-2019-sales.md",
    "C:\\dir\\*",
]
# groups of up to MAX_FILTER_GLOBS, every one a mix of the shapes glob_class reads
GROUPS = [
    ["/docs/?.md", "/docs/[^ab].md", "*.(md)", "/a+b/*", "*$*", "/DOCS/*", "*/reports/*-202[0-4]-*", "/docs/[a-]*"],
    ["/docs/[]a].md", "*[]]*", "/docs/[*]*", "/docs/[!a].md", "*\\*", "/docs/[*.md", "/docs/[z-a]*", "*[^]]*"],
    ["/docs/[a-c]*", "/docs/*.md", "exact-only-no-match"],
]


def _glob_oracle(patterns: list[str]) -> set[str]:
    lite = sqlite3.connect(":memory:")
    return {s for s in SOURCES if any(lite.execute("SELECT ? GLOB ?", (s, p)).fetchone()[0] for p in patterns)}


@pytest.fixture
def filled(store):
    store.write_documents(
        [document(f"d{i:02d}", [f"common text {i}"], source=s, tenant="t") for i, s in enumerate(SOURCES)]
    )
    return store


@pytest.mark.parametrize("patterns", GROUPS)
def test_many_patterns_in_one_filter_match_what_glob_matches(filled, patterns):
    assert len(patterns) <= MAX_FILTER_GLOBS
    want = _glob_oracle(patterns)
    assert want, patterns  # each group matches something
    assert {d.source for d in filled.list_documents({"source": patterns})} == want
    assert filled.count_documents({"source": patterns}) == len(want)
    filters = {"source": patterns, "access": Access("t")}
    found = {cid for cid, _ in filled.keyword_search("common text", 50, filters)}
    by_source = {d.source: d.doc_id for d in filled.list_documents()}
    assert found == {f"{by_source[s]}#0" for s in want}


def test_patterns_and_plain_sources_together(filled):
    patterns = ["/docs/?.md", "/a+b/c", "/reports/*-2019-*", "/price$5"]
    want = {"/docs/a.md", "/docs/A.md", "/docs/].md", "/docs/!.md", "/a+b/c", "/reports/q1-2019-sales.md", "/price$5"}
    assert {d.source for d in filled.list_documents({"source": patterns})} == want


def test_the_review_15_filter_is_refused_by_every_read(filled):
    attack = ["*[" + "!-!" * 330 + f"a{i:03d}]" for i in range(100)]
    filters = {"source": attack, "access": Access("t")}
    message = f"filter 'source': at most {MAX_FILTER_GLOBS} patterns with \\* \\? or \\["
    for read in (
        lambda: filled.keyword_search("common", 5, filters),
        lambda: filled.vector_search(np.ones(8, np.float32), 5, filters),
        lambda: filled.list_documents(filters),
        lambda: filled.count_documents(filters),
    ):
        with pytest.raises(ValueError, match=message):
            read()
    with pytest.raises(ValueError, match="a \\[\\.\\.\\.\\] class holds at most"):
        filled.keyword_search("common", 5, {"source": ["*[" + "!-!" * 80 + "]"]})
