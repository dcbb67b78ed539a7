"""Plain data crossing the layers: its JSON form must keep every field."""

from __future__ import annotations

from dataclasses import asdict, fields

from ragwright.types import SearchResult


def test_search_result_to_dict_is_every_field_plus_location() -> None:
    r = SearchResult("d1", "c1", "notes.md", 0.5, "text", "Title", ["A", "B"], 3, 1, 2, 0.25)
    data = r.to_dict()
    assert data == {**asdict(r), "location": "notes.md (page 3, A > B)"}
    assert list(data) == [f.name for f in fields(SearchResult)] + ["location"]  # a new field cannot be left out
    data["heading_path"].append("C")
    assert r.heading_path == ["A", "B"]  # a copy, not the result's own list
