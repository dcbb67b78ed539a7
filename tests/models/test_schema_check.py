"""The tool-argument checker (models/schema_check.py) against jsonschema_rs, a full JSON Schema
validator: the same verdict on every instance, for schemas of the kind tools use."""

from typing import Literal

import jsonschema_rs
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from ragwright.models.schema_check import schema_errors


class Filter(BaseModel):
    field: str
    value: str | int | None = None


class Search(BaseModel):
    query: str = Field(min_length=1, max_length=50)
    k: int = Field(5, ge=1, le=20)
    mode: Literal["bm25", "vector", "hybrid"] = "hybrid"
    filters: list[Filter] = Field(default_factory=list, max_length=3)
    score: float | None = Field(None, gt=0, lt=1)


SCHEMAS = [
    Search.model_json_schema(),
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "pattern": "^[A-Z]"},
            "days": {"type": "integer", "minimum": 1, "maximum": 7, "multipleOf": 1},
            "units": {"enum": ["c", "f"]},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True, "minItems": 1},
            "at": {"oneOf": [{"type": "string"}, {"type": "number"}]},
        },
        "required": ["city"],
        "additionalProperties": False,
    },
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-30, 30) | st.floats(-2, 2, allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(
    ["query", "k", "mode", "filters", "score", "field", "value", "city", "days", "units", "tags", "at"]
)
objects = st.dictionaries(keys, json_values | st.sampled_from(["hybrid", "bm25", "Paris", "c", 3, 0.5]), max_size=6)
filters = st.lists(st.fixed_dictionaries({"field": st.text(max_size=3)}, optional={"value": json_values}), max_size=4)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(range(len(SCHEMAS))), objects, filters)
def test_same_verdict_as_jsonschema_rs(which, value, some_filters):
    schema = SCHEMAS[which]
    if which == 0 and some_filters:
        value = {**value, "filters": some_filters}
    expected = jsonschema_rs.validator_for(schema).is_valid(value)
    assert (schema_errors(value, schema) == []) == expected, (value, schema_errors(value, schema))


def test_errors_name_the_path_and_the_problem():
    errors = schema_errors({"query": "", "k": 99, "filters": [{"value": 1}], "extra": 1}, Search.model_json_schema())
    assert "arguments.query: needs at least 1 characters" in errors
    assert "arguments.k: must be <= 20" in errors
    assert "arguments.filters[0].field: required" in errors
    assert schema_errors({"city": "paris", "x": 1}, SCHEMAS[1]) == [
        "arguments.city: must match '^[A-Z]'",
        "arguments.x: unexpected property",
    ]
