"""The runs a report reads, made safe (missing keys defaulted, NaN and non-numbers dropped), and
the small formatting every part of the page shares: every string from data goes through esc() or
clip() before it reaches the HTML."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

# Okabe-Ito, then Tol: distinguishable with colour-blindness, and dark enough to survive greyscale print.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#D55E00",
    "#56B4E9",
    "#555555",
    "#882255",
    "#117733",
    "#8C564B",
    "#332288",
)
MAX_QUERY, MAX_ANSWER, MAX_GOLD, MAX_TITLE, MAX_VALUE = 600, 1500, 800, 120, 80
GRID, AXIS = "#e3e6e9", "#888"


@dataclass(frozen=True, slots=True)
class Run:
    """A run dict made safe to read: missing keys defaulted, NaN and non-numbers dropped."""

    raw: dict[str, Any]
    rid: str
    kind: str
    colour: str
    metrics: dict[str, float | None]
    per_query: dict[str, dict[str, float]]
    cases: dict[str, dict[str, Any]]
    coverage: dict[str, dict[str, Any]]


def normalize(run: Any, i: int) -> Run:
    raw = as_dict(run)
    per_query = {
        str(q): {str(m): f for m, v in as_dict(vals).items() if (f := num(v)) is not None}
        for q, vals in as_dict(raw.get("per_query")).items()
    }
    return Run(
        raw=raw,
        rid=str(raw.get("run_id") or f"run {i + 1}"),
        kind=str(raw.get("kind") or "unknown"),
        colour=PALETTE[i % len(PALETTE)],
        metrics={str(m): num(v) for m, v in as_dict(raw.get("metrics")).items()},
        per_query=per_query,
        cases={str(q): as_dict(c) for q, c in as_dict(raw.get("cases")).items()},
        coverage={str(m): as_dict(c) for m, c in as_dict(raw.get("coverage")).items()},
    )


def as_dict(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def num(value: Any) -> float | None:
    """A finite float, or None: NaN, infinities and non-numbers all mean 'not measured'."""
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def fmt(value: Any, digits: int = 3, none: str = "unmeasured") -> str:
    v = num(value)
    return f"{v:.{digits}f}" if v is not None else (f"<i>{none}</i>" if none else "")


def clip(value: Any, limit: int) -> str:
    """Escaped text, cut at `limit` characters so one huge answer cannot bloat the page."""
    text = "" if value is None else str(value)
    return esc(text[:limit] + "…") if len(text) > limit else esc(text)


def esc(value: Any) -> str:
    return escape(str(value), quote=True)
