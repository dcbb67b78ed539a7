"""Evaluation runs: what was measured, on what, with which settings and code, and the result."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class EvalRun:
    kind: str  # "retrieval" | "answers"
    dataset: str
    split: str
    pipeline: str
    dataset_hash: str
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]]
    config: dict[str, Any] = field(default_factory=dict)
    code_version: str = ""
    run_id: str = ""
    created_at: str = ""
    seconds: float = 0.0

    def __post_init__(self) -> None:
        now = datetime.now(timezone.utc)
        self.created_at = self.created_at or now.isoformat(timespec="seconds")
        self.run_id = self.run_id or f"r{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        self.code_version = self.code_version or code_version()

    @property
    def n_queries(self) -> int:
        return len(self.per_query)

    def summary(self) -> dict[str, Any]:
        """The object `ragwright eval retrieval --json` prints."""
        return {"dataset": self.dataset, "split": self.split, "pipeline": self.pipeline, "n_queries": self.n_queries,
                "metrics": self.metrics, "run_id": self.run_id}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    from .. import __version__

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__
