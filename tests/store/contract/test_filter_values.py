"""Plain filter values mean the same on every backend: compared as text (SQLite's TEXT columns
convert a number; PostgreSQL compared `text = integer` and failed), and a list of up to
MAX_FILTER_VALUES of them is one comparison (PostgreSQL: one array, not an OR of 1,000 `=`)."""

from __future__ import annotations

from ragwright.store.sql import MAX_FILTER_VALUES

from .backends import document


def test_numbers_match_as_text_and_long_lists_match_each_value(store):
    store.write_documents(
        [
            document("7", ["Seven."], title="2020", source="/docs/7.md"),
            document("d2", ["Two."], title="Annual report", source="/docs/two.md"),
            document("d3", ["Three."], title="2.5", source="/docs/three.md"),
        ]
    )
    assert store.count_documents({"doc_id": 7}) == 1
    assert store.count_documents({"doc_id": [7, "d2"]}) == 2
    assert store.count_documents({"title": 2020}) == 1
    assert store.count_documents({"title": [2.5, "Annual report", "nothing"]}) == 2
    many = [f"/docs/none-{i}.md" for i in range(MAX_FILTER_VALUES - 2)] + ["/docs/two.md", "/docs/three.md"]
    assert store.count_documents({"source": many}) == 2
    assert store.count_documents({"source": [*many[:10], "/docs/*.md"]}) == 3  # plain values beside a pattern
    assert store.count_documents({"doc_id": ["nothing"]}) == 0
