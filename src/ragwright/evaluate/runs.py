"""Evaluation runs: what was measured, on what, with which settings and code, and the result.

A run is plain data, stored whole in the store and printable as JSON:

- `metrics`: the mean of each measure over the cases where it could be measured, or None
  when no case could be (never NaN);
- `per_query`: each case's measured values (an unmeasured value is absent, not zero);
- `coverage`: per measure, how many cases were measured, how many not, and why not;
- `cases`: what each case saw (the query, what was retrieved or answered, the gold data), so
  that a report can show the worst queries without re-running anything.
"""

from __future__ import annotations

import secrets
import subprocess
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class EvalRun:
    kind: str  # "retrieval" | "answers"
    dataset: str
    split: str
    pipeline: str
    dataset_hash: str
    metrics: dict[str, float | None]
    per_query: dict[str, dict[str, float]]
    config: dict[str, Any] = field(default_factory=dict)
    code_version: str = ""
    run_id: str = ""
    created_at: str = ""
    seconds: float = 0.0
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        now = datetime.now(UTC)
        self.created_at = self.created_at or now.isoformat(timespec="seconds")
        self.run_id = self.run_id or f"r{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        self.code_version = self.code_version or code_version()

    @property
    def n_queries(self) -> int:
        return len(self.per_query)

    def summary(self) -> dict[str, Any]:
        """The object `ragwright eval retrieval --json` prints."""
        data = {
            "dataset": self.dataset,
            "split": self.split,
            "pipeline": self.pipeline,
            "n_queries": self.n_queries,
            "metrics": self.metrics,
            "run_id": self.run_id,
        }
        if self.kind != "retrieval":
            data["coverage"] = self.coverage
        return data

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalRun:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def aggregate(
    per_query: dict[str, dict[str, float]], unmeasured: dict[str, dict[str, str]], measures: tuple[str, ...]
) -> tuple[dict[str, float | None], dict[str, dict[str, Any]]]:
    """Means over measured cases only, and the coverage that says how many that was and why
    the others were not: nothing is averaged away in silence."""
    metrics: dict[str, float | None] = {}
    coverage: dict[str, dict[str, Any]] = {}
    for m in measures:
        values = [v[m] for v in per_query.values() if m in v]
        reasons = Counter(why[m].split(":")[0] for why in unmeasured.values() if m in why)  # grouped by kind
        metrics[m] = round(sum(values) / len(values), 6) if values else None
        coverage[m] = {"measured": len(values), "unmeasured": sum(reasons.values()), "reasons": dict(reasons)}
    return metrics, coverage


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    from .. import __version__

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__
