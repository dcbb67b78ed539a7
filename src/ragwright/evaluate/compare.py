"""Two runs side by side: per-measure deltas with a paired significance test, the queries that
changed most, and a regression gate for CI.

The test is a paired sign-flip permutation test on the per-query differences (queries measured
in both runs only): under "no difference" each difference is as likely to have either sign.
A fixed seed makes the p-value the same on every run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

PRIMARY = ("ndcg@10", "faithfulness", "citation_recall", "correctness")


@dataclass(slots=True)
class MetricDelta:
    metric: str
    a: float | None
    b: float | None
    delta: float | None
    n_paired: int
    p_value: float | None  # None when fewer than two paired queries


@dataclass(slots=True)
class Comparison:
    run_a: str
    run_b: str
    same_dataset: bool
    deltas: list[MetricDelta]
    primary: str
    changed: list[dict[str, Any]] = field(default_factory=list)  # queries that moved most on the primary measure

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def primary_measure(run: dict[str, Any]) -> str:
    names = list(run.get("metrics", {}))
    return next((m for m in PRIMARY if m in names), names[0] if names else "")


def paired_p_value(diffs: np.ndarray, permutations: int = 10_000, seed: int = 0) -> float | None:
    if len(diffs) < 2:
        return None
    if not np.any(diffs):
        return 1.0
    rng = np.random.default_rng(seed)
    observed = abs(diffs.mean())
    hits = 0
    for start in range(0, permutations, 2000):  # in blocks: 2000 x n signs at a time
        signs = rng.choice((-1.0, 1.0), size=(min(2000, permutations - start), len(diffs)))
        hits += int(np.sum(np.abs(signs @ diffs) / len(diffs) >= observed - 1e-12))
    return (hits + 1) / (permutations + 1)


def compare_runs(a: dict[str, Any], b: dict[str, Any], *, top: int = 10, permutations: int = 10_000) -> Comparison:
    metrics = [m for m in a.get("metrics", {}) if m in b.get("metrics", {})]
    deltas = []
    for m in metrics:
        pairs = [
            (a["per_query"][q][m], b["per_query"][q][m])
            for q in a.get("per_query", {})
            if m in a["per_query"][q] and m in b.get("per_query", {}).get(q, {})
        ]
        diffs = np.array([y - x for x, y in pairs], dtype=np.float64)
        va, vb = a["metrics"][m], b["metrics"][m]
        delta = round(vb - va, 6) if va is not None and vb is not None else None
        deltas.append(MetricDelta(m, va, vb, delta, len(pairs), paired_p_value(diffs, permutations)))
    primary = primary_measure(a)
    changed = []
    for q, values in a.get("per_query", {}).items():
        other = b.get("per_query", {}).get(q, {})
        if primary in values and primary in other and other[primary] != values[primary]:
            query = (b.get("cases", {}).get(q) or a.get("cases", {}).get(q) or {}).get("query", "")
            changed.append(
                {
                    "query_id": q,
                    "query": query,
                    "a": values[primary],
                    "b": other[primary],
                    "delta": round(other[primary] - values[primary], 6),
                }
            )
    changed.sort(key=lambda c: (-abs(c["delta"]), c["query_id"]))
    return Comparison(
        a["run_id"], b["run_id"], a.get("dataset_hash") == b.get("dataset_hash"), deltas, primary, changed[:top]
    )


@dataclass(slots=True)
class GateCheck:
    metric: str
    baseline: float | None
    candidate: float | None
    drop: float | None
    passed: bool
    note: str = ""


def gate(
    baseline: dict[str, Any], candidate: dict[str, Any], max_drop: float, metrics: list[str] | None = None
) -> list[GateCheck]:
    """One check per measure: it fails when the candidate is more than `max_drop` (absolute) below
    the baseline, or when the baseline measured something the candidate could not."""
    names = metrics or list(baseline.get("metrics", {}))
    checks = []
    for m in names:
        base = baseline.get("metrics", {}).get(m)
        cand = candidate.get("metrics", {}).get(m)
        if m not in baseline.get("metrics", {}):
            checks.append(GateCheck(m, None, cand, None, False, "not in the baseline run"))
        elif base is None:
            checks.append(GateCheck(m, None, cand, None, True, "unmeasured in the baseline: not gated"))
        elif cand is None:
            checks.append(GateCheck(m, base, None, None, False, "unmeasured in the candidate run"))
        else:
            drop = round(base - cand, 6) if m != "abstention" else round(cand - base, 6)  # less abstention is better
            checks.append(GateCheck(m, base, cand, drop, drop <= max_drop + 1e-12))
    return checks
