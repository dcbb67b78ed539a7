"""The honest injection estimate for bench/guard.py: stratified k-fold (the old figure) beside
k-fold grouped by near duplicates (tools/guard/groups.py), for the detector and the TF-IDF peers,
each on the same folds in the same run.

Thresholds: the detector's is chosen on each split's own out-of-fold scores (as training does, so
with the same small optimistic bias in both columns); the peers predict at 0.5. The shipped
threshold is also scored on the grouped folds, since it is what users get.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from _guard_peers import PEERS, TfidfLR

from ragwright.guard.injection import FeatureConfig, InjectionDetector
from tools.guard import groups as G
from tools.guard import train_injection as T

METRICS = ("accuracy", "precision", "recall", "false_positive_rate")


def peer_scores(texts: Sequence[str], y: np.ndarray, assign: np.ndarray) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities of each TF-IDF peer, per repeat, on the given folds."""
    out = {name: np.empty(assign.shape) for name in PEERS}
    for r in range(assign.shape[0]):
        for f in np.unique(assign[r]):
            tr, te = np.flatnonzero(assign[r] != f), np.flatnonzero(assign[r] == f)
            for name, kw in PEERS.items():
                out[name][r, te] = TfidfLR([texts[i] for i in tr], y[tr], **kw)([texts[i] for i in te])
    return out


@dataclass(frozen=True)
class Split:
    """The texts and the k-fold plan both splits share."""

    texts: Sequence[str]
    y: np.ndarray
    passages: Sequence[str]
    questions: Sequence[str]
    folds: int
    repeats: int
    seed: int


def split_figures(d: Split, groups: np.ndarray | None) -> dict[str, Any]:
    """Every system's mean fold metrics on one kind of split (groups=None: stratified)."""
    texts, y = d.texts, d.y
    feats = T.Features(FeatureConfig())
    cv = T.cross_validate(
        texts, y, feats, T.C_DEFAULT, d.passages, d.questions, d.folds, d.repeats, d.seed, groups=groups
    )
    ev = T.evaluate(cv)
    shipped = InjectionDetector().threshold("user")
    systems: dict[str, tuple[np.ndarray, float]] = {n: (s, 0.5) for n, s in peer_scores(texts, y, cv.folds).items()}
    systems["detector, no rules"] = (cv.user_scores(False), ev["thresholds"]["user"]["classifier"])
    systems["detector + rules"] = (cv.user_scores(True), ev["thresholds"]["user"]["with_rules"])
    systems["detector + rules, shipped threshold"] = (cv.user_scores(True), shipped)
    out: dict[str, Any] = {
        "systems": {
            name: {"threshold": thr, **T.fold_metrics(y, s, cv.folds, thr)} for name, (s, thr) in systems.items()
        },
        "retrieved": ev["retrieved"].get("with_rules"),
        "retrieved_threshold": ev["thresholds"]["retrieved"].get("with_rules"),
    }
    if groups is not None:
        out["texts_with_near_duplicate_across_folds"] = int(np.mean([G.leaks(a, groups) for a in cv.folds]))
    return out


def grouped_estimate(d: Split, groups: np.ndarray | None = None) -> dict[str, Any]:
    """Stratified and grouped figures side by side, plus how the groups look."""
    groups = G.near_duplicate_groups(d.texts) if groups is None else groups
    sizes = np.bincount(groups)
    stratified = split_figures(d, None)
    stratified["texts_with_near_duplicate_across_folds"] = int(
        np.mean([G.leaks(T.stratified_folds(d.y, d.folds, d.seed + r), groups) for r in range(d.repeats)])
    )
    return {
        "groups": {
            "count": int(sizes.size),
            "largest": int(sizes.max()),
            "singletons": int((sizes == 1).sum()),
            "texts_in_groups_of_2_or_more": int(sizes[sizes > 1].sum()),
            "links": G.GroupConfig().__dict__,
        },
        "stratified": stratified,
        "grouped": split_figures(d, groups),
    }


def rows(est: dict[str, Any]) -> list[list[Any]]:
    """Table rows: system, then accuracy / precision / recall stratified -> grouped."""
    out = []
    for name, g in est["grouped"]["systems"].items():
        s = est["stratified"]["systems"][name]
        out.append(
            [
                name,
                g["threshold"],
                *(f"{s[k]['mean']:.3f} -> {g[k]['mean']:.3f} ± {g[k]['sd']:.3f}" for k in METRICS),
            ]
        )
    return out


HEADER = ["system", "thr (grouped)", *(f"{k} strat -> grouped" for k in METRICS)]
