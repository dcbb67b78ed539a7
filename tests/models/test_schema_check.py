"""The tool-argument checker (models/schema_check.py) against jsonschema_rs, a full JSON Schema
validator: the same verdict on every instance, for schemas of the kind tools use."""

import time
from typing import Literal

import jsonschema_rs
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from ragwright.models.schema_check import TOO_COMPLEX, schema_errors


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


def _timed(value, schema):
    started = time.perf_counter()
    errors = schema_errors(value, schema)
    return errors, time.perf_counter() - started


def test_a_hostile_schema_is_a_problem_never_an_exception_or_seconds_of_cpu():
    recursive = {
        "type": "object",
        "$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}]}},
        "properties": {"x": {"$ref": "#/$defs/a"}},
    }
    branching: dict = {"type": "string", "pattern": "x"}
    for _ in range(25):  # 2**25 paths
        branching = {"anyOf": [branching, branching]}
    backtracking = {"type": "string", "pattern": "^(a|aa)+$"}
    for value, schema in [
        ({"x": 1}, recursive),
        ({"x": "zz"}, {"type": "object", "properties": {"x": branching}}),
        ({"x": "a" * 60 + "b"}, {"type": "object", "properties": {"x": backtracking}}),
        (
            {"x": ["a" * 60 + "b"] * 50},
            {"type": "object", "properties": {"x": {"type": "array", "items": backtracking}}},
        ),
    ]:
        errors, seconds = _timed(value, schema)
        assert errors == [TOO_COMPLEX] and seconds < 0.5, (schema, seconds)
    errors, _ = _timed({"x": "a"}, {"type": "object", "properties": {"x": {"minLength": "3"}}})
    assert errors == ["arguments: the tool's schema could not be applied (TypeError)"]


def test_multiple_of_is_exact_in_decimal_and_takes_any_number():
    schema = {"type": "object", "properties": {"x": {"multipleOf": 0.1}}}
    assert schema_errors({"x": 0.3}, schema) == [] and schema_errors({"x": 10**4000}, schema) == []
    assert schema_errors({"x": 0.35}, schema) == ["arguments.x: must be a multiple of 0.1"]
    assert schema_errors({"x": float("inf")}, schema) == ["arguments.x: must be a multiple of 0.1"]
