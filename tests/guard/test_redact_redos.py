"""The secret finder and the streamed restore against text built to make regexes backtrack: one
chat message to a `privacy = "redact"` model, or one block of an upload, took 8.5 s at 10 KB
("a." repeated: the generic `name = value` pattern retried every start of a long name) and
grew cubically. Each shape is timed at 10 KB (the old code took seconds, now milliseconds) and
at 32 and 128 KB (linear time grows 4x; the bound allows 10x, quadratic would be 16x)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from ragwright.guard.redact import find_secrets, restorable_length

SHAPES = {
    "dotted name": "a.",
    "name with a keyword": "token.",
    "dashed name": "a-",
    "JWT starts in one run": "eyJaaaaaaaa-",
    "JWT first parts": "eyJaaaaaaaaa.",
    "PEM begin without end": "-----BEGIN PRIVATE KEY-----",
    "PEM end without begin": "-----END A PRIVATE KEY-----",
    "bearer": "bearer ",
    "letters": "a",
    "spaces": " ",
    "alternating case": "aA",
    "assignment without value": "token=",
    "unclosed quote": 'pwd:"x',
}


def _text(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size] + "@"


def _best_of(runs: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _scan(text: str) -> None:
    find_secrets(text)
    restorable_length(text + ".")


@pytest.mark.parametrize("unit", SHAPES.values(), ids=SHAPES.keys())
def test_ten_kilobytes_take_well_under_a_second(unit: str) -> None:
    assert _best_of(1, lambda: _scan(_text(unit, 10_000))) < 1.0


@pytest.mark.parametrize("unit", SHAPES.values(), ids=SHAPES.keys())
def test_time_grows_linearly(unit: str) -> None:
    small = _best_of(3, lambda: _scan(_text(unit, 32_000)))
    large = _best_of(3, lambda: _scan(_text(unit, 128_000)))
    assert large < 10 * max(small, 0.02)


def test_detections_survive_the_rewrite() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n"
    text = (
        f"-----BEGIN PRIVATE KEY-----\n{pem}\nx-{jwt} .db.admin_password = 'hunter2!x' "
        "my-token: x8Kq2Lm9Zp4Rt7Vw1Yb3 foo.bar=1"
    )
    found = [(s.label, s.text) for s in find_secrets(text)]
    assert found == [
        ("PRIVATE_KEY", pem),
        ("JWT", jwt),
        ("SECRET", "hunter2!x"),
        ("SECRET", "x8Kq2Lm9Zp4Rt7Vw1Yb3"),
    ]


def test_restore_holds_back_a_bare_placeholder_tail() -> None:
    assert restorable_length("say hello PERSON_1") == 0
    assert restorable_length("done. PERSON_12") == 5
    assert restorable_length("done.\n") == len("done.\n")
    assert restorable_length("ends in PERSON\n") == 0
