"""What `ragwright learn` reports beside each access scope's figures: a summary over the scopes."""

from __future__ import annotations

from typing import Any

from ..retrieve.adapter import LearnedVersion


def overall(scopes: dict[str, dict[str, Any]], version: LearnedVersion) -> dict[str, Any]:
    """The report's summary over the scopes that learned: with one scope, its own figures;
    with more, held-out figures pooled (nDCG weighted by each scope's held-out queries)."""
    reports = list(scopes.values())
    if len(reports) == 1:
        return {"validation": reports[0]["validation"], "chosen": reports[0]["chosen"]}
    vals = [r["validation"] for r in reports]
    n = sum(v["queries"] for v in vals)
    pooled = {k: round(sum(v[k] * v["queries"] for v in vals) / n, 4) for k in ("ndcg@10_before", "ndcg@10_after")}
    sums = {k: sum(v[k] for v in vals) for k in ("queries", "fit_queries", "wins", "losses", "ties")}
    tuned = all(v["tuned"] for v in vals)
    kinds = sorted({p.kind for p in version.parts.values()})
    kind = kinds[0] if len(kinds) == 1 else "per scope" if kinds else "shipped"
    return {
        "validation": {**sums, **pooled, "candidates": {}, "tuned": tuned},
        "chosen": {"kind": kind, "adapter_epochs": 0, "memory": None},
    }


def wins(per_query: dict[str, tuple[float, float]]) -> dict[str, int]:
    return {
        "wins": sum(a > b + 1e-9 for b, a in per_query.values()),
        "losses": sum(a < b - 1e-9 for b, a in per_query.values()),
        "ties": sum(abs(a - b) <= 1e-9 for b, a in per_query.values()),
    }
