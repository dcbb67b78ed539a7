"""Checks a tool call's arguments against the tool's JSON schema, and says what is wrong in words
a model can act on when it is re-asked.

Hand-written, though runtime.txt now holds jsonschema (a dependency of the MCP SDK, for
ragwright/mcp; jsonschema_rs is a test dependency only): it came before jsonschema did, and one
check of a client's schema must be bounded (below), which jsonschema does not do by itself (no
limit on nodes visited or nesting, `pattern` run by `re` with no timeout); whether jsonschema
with such limits added could replace it has not been measured. Pydantic validates models, not
schemas. It covers the keywords tool schemas use: those Pydantic emits
(type, properties, required, additionalProperties, items, enum, const, anyOf/oneOf/allOf,
$ref into $defs, bounds on numbers, strings and arrays, pattern) and the OpenAI function-calling
guide's; a keyword it does not know is not checked (it errs towards accepting). A tool built from
a Pydantic model is checked by the model itself (models/tools.py). tests/models/test_schema_check.py
compares its verdicts with jsonschema_rs's.

A schema may come from a client of the server, so one check is bounded: at most MAX_STEPS schema
nodes visited and MAX_DEPTH nested (a recursive $ref, anyOf nested to blow up exponentially, a
value nested deeper than any tool needs), and at most PATTERN_SECONDS spent on `pattern`s, run by
`regex` (runtime.txt) with a timeout since a pattern like ^(a|aa)+$ backtracks for seconds on 40
characters. Past a bound the answer is the problem "the schema is too complex to check", never
an exception or seconds of CPU; a schema whose keywords hold the wrong types is a problem too."""

from __future__ import annotations

import time
from fractions import Fraction
from typing import Any

import regex  # type: ignore[import-untyped]  # no py.typed, types-regex is not installed

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "number": (int, float),
    "integer": (int,),
}
MAX_ERRORS = 10
MAX_STEPS = 10_000  # schema nodes visited in one check: ~0.1 s at most
MAX_DEPTH = 64  # schema nodes nested in one check
PATTERN_SECONDS = 0.05  # all the patterns of one check together (regex overshoots it to ~0.1 s)
TOO_COMPLEX = "arguments: the tool's schema is too complex to check"


class _Budget:
    """What one check may still spend, shared by the checks of anyOf/oneOf options."""

    __slots__ = ("depth", "exceeded", "pattern_deadline", "steps")

    def __init__(self) -> None:
        self.steps = self.depth = 0
        self.exceeded = False
        self.pattern_deadline = time.monotonic() + PATTERN_SECONDS

    def enter(self) -> bool:
        self.steps += 1
        if self.exceeded or self.steps > MAX_STEPS or self.depth >= MAX_DEPTH:
            self.exceeded = True
            return False
        self.depth += 1
        return True


class _Errors(list[str]):
    """The problems found so far, with the budget of the check they belong to."""

    def __init__(self, budget: _Budget) -> None:
        super().__init__()
        self.budget = budget


def schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    """What makes `value` fail `schema` (at most MAX_ERRORS, each "path: problem"); [] when it fits."""
    errors = _Errors(_Budget())
    try:
        _check(value, schema, schema, "arguments", errors)
    except (TypeError, ValueError, AttributeError, RecursionError, OverflowError, ZeroDivisionError) as exc:
        return [f"arguments: the tool's schema could not be applied ({type(exc).__name__})"]
    if errors.budget.exceeded:
        return [TOO_COMPLEX]
    return errors[:MAX_ERRORS]


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES.get(kind, (object,)))


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    seen = 0
    while isinstance(ref, str) and ref.startswith("#/") and seen < 32:
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(node, dict) else {}
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}} if isinstance(node, dict) else {}
        ref, seen = schema.get("$ref"), seen + 1
    return schema


def _check(value: Any, schema: Any, root: dict[str, Any], path: str, errors: _Errors) -> None:
    if schema is False:
        errors.append(f"{path}: not allowed")
        return
    if not isinstance(schema, dict) or len(errors) >= MAX_ERRORS or not errors.budget.enter():
        return
    try:
        _check_node(value, _resolve(schema, root), root, path, errors)
    finally:
        errors.budget.depth -= 1


def _check_node(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str, errors: _Errors) -> None:
    kinds = schema.get("type")
    if kinds is not None:
        wanted = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_is(value, k) for k in wanted):
            errors.append(f"{path}: expected {' or '.join(wanted)}, got {_name(value)}")
            return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: must be one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: must be {schema['const']!r}")
    _combinators(value, schema, root, path, errors)
    if isinstance(value, dict):
        _object(value, schema, root, path, errors)
    elif isinstance(value, list):
        _array(value, schema, root, path, errors)
    elif isinstance(value, str):
        _string(value, schema, path, errors)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _number(value, schema, path, errors)


def _combinators(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str, errors: _Errors) -> None:
    for sub in schema.get("allOf") or []:
        _check(value, sub, root, path, errors)
    for key, exactly_one in (("anyOf", False), ("oneOf", True)):
        options = schema.get(key)
        if not options:
            continue
        fits = sum(1 for sub in options if not schema_errors_at(value, sub, root, errors.budget))
        if fits == 0:
            errors.append(f"{path}: matches none of the {len(options)} allowed shapes")
        elif exactly_one and fits > 1:
            errors.append(f"{path}: matches more than one of the allowed shapes")


def schema_errors_at(value: Any, schema: Any, root: dict[str, Any], budget: _Budget) -> list[str]:
    errors = _Errors(budget)
    _check(value, schema, root, "", errors)
    return errors


def _object(value: dict[str, Any], schema: dict[str, Any], root: dict[str, Any], path: str, errors: _Errors) -> None:
    props = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in value:
            errors.append(f"{path}.{name}: required")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in props:
            _check(item, props[name], root, f"{path}.{name}", errors)
        elif extra is False:
            errors.append(f"{path}.{name}: unexpected property")
        elif isinstance(extra, dict):
            _check(item, extra, root, f"{path}.{name}", errors)
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errors.append(f"{path}: needs at least {schema['minProperties']} properties")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errors.append(f"{path}: takes at most {schema['maxProperties']} properties")


def _array(value: list[Any], schema: dict[str, Any], root: dict[str, Any], path: str, errors: _Errors) -> None:
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            _check(item, items, root, f"{path}[{i}]", errors)
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{path}: needs at least {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path}: takes at most {schema['maxItems']} items")
    if schema.get("uniqueItems") and len({repr(v) for v in value}) < len(value):
        errors.append(f"{path}: items must be unique")


def _string(value: str, schema: dict[str, Any], path: str, errors: _Errors) -> None:
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{path}: needs at least {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{path}: takes at most {schema['maxLength']} characters")
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        left = errors.budget.pattern_deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            if regex.search(pattern, value, timeout=left) is None:
                errors.append(f"{path}: must match {pattern!r}")
        except regex.error:
            pass  # a pattern Python cannot read is not checked
        except TimeoutError:
            errors.budget.exceeded = True


def _number(value: float, schema: dict[str, Any], path: str, errors: list[str]) -> None:
    for key, sign in (("minimum", ">="), ("maximum", "<="), ("exclusiveMinimum", ">"), ("exclusiveMaximum", "<")):
        bound = schema.get(key)
        if not isinstance(bound, (int, float)) or isinstance(bound, bool):
            continue
        holds = {">=": value >= bound, "<=": value <= bound, ">": value > bound, "<": value < bound}[sign]
        if not holds:
            errors.append(f"{path}: must be {sign} {bound}")
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0 and not _multiple(value, step):
        errors.append(f"{path}: must be a multiple of {step}")


def _multiple(value: float, step: float) -> bool:
    """Exact, on the numbers as written in decimal (0.3 is a multiple of 0.1, as for a person);
    infinity and NaN are multiples of nothing."""
    try:
        return Fraction(repr(value) if isinstance(value, float) else value) % Fraction(repr(step)) == 0
    except (ValueError, OverflowError, ZeroDivisionError):
        return False


def _name(value: Any) -> str:
    for kind in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is(value, kind):
            return kind
    return type(value).__name__
