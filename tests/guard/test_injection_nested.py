"""tools/guard/injection_nested.py: the cascade's estimate with every choice made inside the fold.

The point of `nested` is that a fold's band, blend and threshold are chosen without its own
scores; a version that chose on all folds (as the trainer's recorded figure does) fails the first
test, since the held-out fold's scores are made to move the all-fold choice."""

from __future__ import annotations

import numpy as np

from ragwright.guard.injection_head import HeadConfig
from tools.guard import injection_nested as N
from tools.guard import train_injection_head as H

BASE = HeadConfig(np.zeros(0), 0.0, {}, 0.5, 0.0, {}, {"user": 2, "retrieved": 3})


def _oof(fold0_positive_logit: float) -> tuple[H.OutOfFold, N.Split]:
    rng = np.random.default_rng(0)
    n, k = 60, 5
    y = np.arange(n) % 2
    folds = (np.arange(n) // 2) % k
    user = []
    for i in range(n):
        z = (1.5 if y[i] else -2.0) + rng.normal(0, 1.0)
        if folds[i] == 0 and y[i]:
            z = fold0_positive_logit
        user.append(H.Scored(np.array([z]), np.array([z]), False))
    statements = [H.Scored(np.array([-3.0 + rng.normal(0, 0.5)]), np.array([-3.0]), False) for _ in range(40)]
    retrieved = [(H.Scored(np.array([z]), np.array([z]), False), int(z > 0)) for z in (-3.0, -2.0, 2.0, 3.0)]
    oof = H.OutOfFold([user], [retrieved], [statements], statement_folds=[[i % k for i in range(40)]])
    return oof, N.Split(y, folds[None, :])


def test_a_folds_choice_does_not_see_that_fold() -> None:
    calm, moved = _oof(3.0), _oof(-1.2)
    # the held-out fold's scores do move a choice made on all folds ...
    all_calm = H.choose(calm[0], calm[1].y, BASE, 0.5)[0]
    all_moved = H.choose(moved[0], moved[1].y, BASE, 0.5)[0]
    assert all_calm.thresholds["user"] != all_moved.thresholds["user"]
    # ... but not the one nested makes for that fold; the other folds' choices see it
    a, b = N.nested(*calm, BASE, 0.5), N.nested(*moved, BASE, 0.5)
    assert a["chosen"][0] == b["chosen"][0]
    assert a["chosen"][1:] != b["chosen"][1:]
    assert a["accuracy"] > b["accuracy"]  # fold 0's positives now score low: missed at its own threshold


def test_stack_features_read_only_the_parts_the_band_sends() -> None:
    cfg = HeadConfig(np.zeros(0), 0.0, {"user": (0.1, 0.5)}, 0.5, 0.0, {}, {"user": 1})
    logit = np.log(np.array([0.3, 0.05, 0.2]) / np.array([0.7, 0.95, 0.8]))  # in band, below, in band
    ft = H.Scored(logit, np.array([-2.0, 9.0, 4.0]), False)
    lr = H.Scored(logit, np.array([-1.0, 8.0, 3.0]), False)
    # one part sent (max parts 1): the highest in-band one, not the below-band part's 9.0
    assert N.stack_features(ft, lr, cfg) == [float(logit.max()), -2.0, -1.0, 1.0]
    none = H.Scored(np.array([-5.0]), np.array([7.0]), False)
    assert N.stack_features(none, none, cfg) == [-5.0, 0.0, 0.0, 0.0]


def _with_dev(fold0_dev_logit: float) -> tuple[H.OutOfFold, N.Split]:
    """_oof's folds with pii/dev-like statements (`measured`, a fold each) that score between the
    benign and the injected texts: only a budget on them keeps them from being flagged."""
    oof, split = _oof(3.0)
    rng = np.random.default_rng(1)
    measured, m_folds = [], []
    for i in range(100):
        f = i % 5
        z = fold0_dev_logit if f == 0 else 0.2 + rng.normal(0, 0.8)
        measured.append(H.Scored(np.array([z]), np.array([z]), False))
        m_folds.append(f)
    oof.measured, oof.measured_folds = [measured], [m_folds]
    return oof, split


def test_the_dev_budget_is_chosen_on_the_other_folds_and_lowers_their_false_alarms() -> None:
    base = HeadConfig(np.zeros(0), 0.0, {}, 0.5, 0.0, {}, {"user": 2, "retrieved": 3})
    cands = N.stack_candidates(base)
    calm, moved = _with_dev(-4.0), _with_dev(4.0)
    free = N.stacked(calm[0], calm[0], calm[1], cands, "")
    bound = N.stacked(calm[0], calm[0], calm[1], cands, "budget")
    assert bound["measured_flagged"] < free["measured_flagged"]
    # fold 0's own dev statements do not move fold 0's choice, only the other folds'
    moved_bound = N.stacked(moved[0], moved[0], moved[1], cands, "budget")
    assert bound["chosen"][0] == moved_bound["chosen"][0]
    assert bound["chosen"][1:] != moved_bound["chosen"][1:]
    # without the budget they choose nothing at all
    assert free["chosen"] == N.stacked(moved[0], moved[0], moved[1], cands, "")["chosen"]
