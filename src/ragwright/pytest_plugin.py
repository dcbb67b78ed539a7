"""Evaluations as tests. Installed with ragwright (entry point `pytest11`), it gives every test
suite a `ragwright_eval` fixture:

    def test_retrieval_does_not_regress(ragwright_eval):
        run = ragwright_eval.retrieval("eval/my-dataset", pipeline="default")
        ragwright_eval.assert_at_least(run, {"ndcg@10": 0.70})
        ragwright_eval.assert_no_regression(run, baseline="eval/baseline.json", max_drop=0.01)

The workspace lives in a temporary directory unless `--ragwright-data-dir` names one (so the
index is built once and reused between test sessions).

It lives beside the workspace, not in `evaluate/`: it opens a Workspace, which is built on top of
evaluation (tests/test_public_api.py keeps evaluate from importing it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .evaluate.compare import gate
from .evaluate.runs import EvalRun


class EvalFixture:
    def __init__(self, data_dir: Path, config_file: Path | None = None) -> None:
        from .workspace import Workspace  # on first use: importing the plugin stays cheap for every pytest run

        self.workspace = Workspace(data_dir, config_file=config_file)

    def retrieval(self, data: str | Path, split: str = "test", pipeline: str = "default") -> EvalRun:
        return self.workspace.evaluate_retrieval(data, split, pipeline)

    def answers(self, data: str | Path, split: str = "test", **options: Any) -> EvalRun:
        return self.workspace.evaluate_answers(data, split, **options)

    def assert_at_least(self, run: EvalRun, floors: dict[str, float]) -> None:
        got = {m: run.metrics.get(m) for m in floors}
        low = {m: (v, floors[m]) for m, v in got.items() if v is None or v < floors[m]}  # unmeasured is below
        assert not low, "below the floor: " + ", ".join(f"{m} {v} < {f}" for m, (v, f) in low.items())

    def assert_no_regression(
        self,
        run: EvalRun,
        baseline: str | Path | dict[str, Any],
        max_drop: float = 0.01,
        metrics: list[str] | None = None,
    ) -> None:
        """Baseline: a run id in this workspace, a run saved as JSON, or a run dict."""
        if isinstance(baseline, dict):
            base = baseline
        else:
            base = self.workspace.store.get_eval_run(str(baseline)) or json.loads(Path(baseline).read_text("utf-8"))
        failed = [c for c in gate(base, run.to_dict(), max_drop, metrics) if not c.passed]
        assert not failed, (
            "regression against baseline "
            + str(base.get("run_id"))
            + ": "
            + "; ".join(f"{c.metric} {c.baseline} -> {c.candidate} {c.note}".strip() for c in failed)
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--ragwright-data-dir", default=None, help="ragwright data directory for evaluation fixtures")


@pytest.fixture
def ragwright_eval(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EvalFixture]:
    chosen = request.config.getoption("--ragwright-data-dir")
    fixture = EvalFixture(Path(chosen) if chosen else tmp_path_factory.mktemp("ragwright-eval"))
    yield fixture
    fixture.workspace.close()
