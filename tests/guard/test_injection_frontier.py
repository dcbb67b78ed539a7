"""tools/guard/injection_frontier.py: the stacked cascade's figures at every threshold shift. At
shift 0 each fold decides at its own threshold, so the sweep must give injection_nested.stacked's
figures exactly; a sweep that refitted or rechose anything would not."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tests.guard.test_injection_nested import BASE, _oof
from tools.guard import injection_frontier as F
from tools.guard import injection_nested as N


def test_shift_zero_is_the_nested_estimate_and_recall_falls_with_the_shift() -> None:
    oof, split = _oof(-1.2)
    base = replace(BASE, bands={"retrieved": (0.5, 1.01)})
    candidates = N.stack_candidates(base)
    nested = N.stacked(oof, oof, split, candidates, "")
    scores = N.FoldScores([""] * len(split.y), split.y, split.folds, oof, oof, base, {}, None)
    rows = F.sweep(split.y, F.shifted_scores(scores, candidates))
    at_zero = next(r for r in rows if r["shift"] == 0)
    for key in ("accuracy", "recall", "precision", "statements_flagged"):
        assert at_zero[key] == round(nested[key], 4), key
    recalls = [r["recall"] for r in rows]
    assert recalls == sorted(recalls, reverse=True) and recalls[0] > recalls[-1]
    assert np.isnan(at_zero["measured_flagged"])  # no pii/dev texts in these folds
