"""A key's `source` filter is matched against the source as the API shows it (store.sql.ShownSource),
on every backend: matched against the server path, a read key recovered the data dir one
character at a time (`/*`, then `/s*`, `/sr*`, ...) from whether a search found anything.
Also the filter bounds: a ValueError naming the limit on every backend, never a driver error."""

from __future__ import annotations

import pytest

from ragwright.store.sql import MAX_FILTER_FIELDS, MAX_FILTER_VALUES, ShownSource

from .backends import document

ROOT = "/srv/rag-data"
UPLOAD = f"{ROOT}/uploads/{'0123456789abcdef'}/{'fedcba9876543210'}/notes.md"


@pytest.fixture
def docs(store):
    store.write_documents(
        [
            document("up", ["Uploaded."], source=UPLOAD),
            document("dd", ["In the data dir."], source=f"{ROOT}/eval/run.md"),
            document("out", ["Elsewhere."], source="/home/op/docs/out.md"),
        ]
    )
    return store


def _shown(store, *patterns: str) -> list[str]:
    return [d.doc_id for d in store.list_documents({"source": ShownSource(ROOT, patterns)})]


@pytest.mark.parametrize("prefix", ["/", "/s", "/srv/", ROOT, f"{ROOT}/uploads/", f"{ROOT}/uploads/0", "*/srv*"])
def test_no_pattern_spells_out_the_server_path(docs, prefix):
    assert "up" not in _shown(docs, prefix + "*")
    assert "dd" not in _shown(docs, prefix + "*")


def test_patterns_match_what_the_api_shows(docs):
    assert _shown(docs, "notes.md") == ["up"]
    assert _shown(docs, "n*") == ["up"]
    assert _shown(docs, "<data dir>/eval/*") == ["dd"]
    assert _shown(docs, "/home/op/*") == ["out"]
    assert sorted(_shown(docs, "*.md")) == ["dd", "out", "up"]
    assert _shown(docs, UPLOAD) == []


def test_local_callers_still_match_the_stored_path(docs):
    assert [d.doc_id for d in docs.list_documents({"source": f"{ROOT}/uploads/*"})] == ["up"]


@pytest.mark.parametrize(
    "filters",
    [
        {"doc_id": [f"d{i}" for i in range(MAX_FILTER_VALUES + 1)]},
        {f"metadata.k{i}": "x" for i in range(MAX_FILTER_FIELDS + 1)},
    ],
)
def test_oversized_filters_are_a_value_error(docs, filters):
    with pytest.raises(ValueError, match="at most"):
        docs.list_documents(filters)
