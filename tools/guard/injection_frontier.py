"""Where the stacked cascade's user threshold could go: every figure at every threshold shift.

    python -m tools.guard.injection_frontier --data ../shared/data [--head J] [--ft-settings S ...]

Why: injection_nested reports one point per recipe, the threshold each fold chose on the others.
Whether any threshold meets issue 19's targets together (accuracy >= 0.97, recall >= 0.95, benign
statements and pii/dev <= 2 %) is a question about the whole curve. Each fold's stacker, candidate
and threshold are chosen on the other folds exactly as injection_nested.stacked does; its scores
are then shifted by its own threshold, pooled per repeat, and one shift is swept over all folds.
What it found: tools/guard/EXPERIMENTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from ragwright.guard.injection_head import HeadConfig

from . import injection_nested as N
from . import train_injection_head as H

SHIFTS = tuple(round(float(d), 3) for d in np.arange(-0.15, 0.301, 0.025))


def shifted_scores(
    f: N.FoldScores, candidates: Sequence[tuple[HeadConfig, float]]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per repeat: the train texts', held-out statements' and pii/dev texts' stacked scores, each
    minus the threshold of the fold that scored it (0 is that fold's own decision)."""
    y, ft, lr = f.y, f.ft, f.lr
    k = int(f.folds.max()) + 1
    out = []
    for r in range(len(ft.user)):
        empty = (np.zeros((0, 1)), np.zeros(0, dtype=bool))
        feats = [
            (
                N._rows(ft.user[r], lr.user[r], c),
                N._rows(ft.statements[r], lr.statements[r], c),
                N._rows(ft.measured[r], lr.measured[r], c) if ft.measured else empty,
            )
            for c, _ in candidates
        ]
        st_fold = np.array(ft.statement_folds[r])
        m_fold = np.array(ft.measured_folds[r] if ft.measured_folds else [])
        user, statements, dev = np.zeros(len(y)), [], []
        for fold in range(k):
            other, st_other = f.folds[r] != fold, st_fold != fold
            thr, score, i = _chosen(feats, candidates, y, other, st_other)
            (xu, ru), (xs, rs), (xm, rm) = feats[i]
            user[~other] = (np.where(ru, H.RULE_SCORE, score(xu)) - thr)[~other]
            statements += (np.where(rs, H.RULE_SCORE, score(xs)) - thr)[~st_other].tolist()
            if len(xm):
                dev += (np.where(rm, H.RULE_SCORE, score(xm)) - thr)[m_fold == fold].tolist()
        out.append((user, np.array(statements), np.array(dev)))
    return out


def _chosen(feats, candidates, y, other, st_other):  # type: ignore[no-untyped-def]
    """injection_nested.stacked's choice for one fold (dev mode off): threshold, scorer, candidate."""
    best = None
    for i, (((xu, ru), (xs, rs), _), (_, c)) in enumerate(zip(feats, candidates, strict=True)):
        score = N._fit(np.vstack([xu[other], xs[st_other]]), np.r_[y[other], np.zeros(int(st_other.sum()))], c)
        su, ss = (np.where(rule, H.RULE_SCORE, score(x)) for x, rule in ((xu, ru), (xs, rs)))
        thr = N._threshold(su[other], y[other], ss[st_other])
        acc = float(((su[other] >= thr) == (y[other] == 1)).mean())
        if best is None or acc > best[0] + 1e-12:
            best = (acc, thr, score, i)
    assert best is not None
    return best[1:]


def sweep(y: np.ndarray, runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[dict[str, float]]:
    """Each shift's figures, averaged over repeats as the trainer's are."""
    rows = []
    for d in SHIFTS:
        per = []
        for user, statements, dev in runs:
            flagged = user >= d
            tp = int((flagged & (y == 1)).sum())
            per.append(
                (
                    float((flagged == (y == 1)).mean()),
                    tp / int((y == 1).sum()),
                    tp / max(int(flagged.sum()), 1),
                    float((statements >= d).mean()),
                    float((dev >= d).mean()) if len(dev) else float("nan"),
                )
            )
        keys = ("accuracy", "recall", "precision", "statements_flagged", "measured_flagged")
        means = [round(float(np.mean(v)), 4) for v in zip(*per, strict=True)]
        rows.append({"shift": d, **dict(zip(keys, means, strict=True))})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--head", type=Path, help="a head JSON other than the shipped one (a trainer's --out)")
    ap.add_argument("--ft-settings", nargs="+", default=[], help="fine-tuned runs' fold logits (averaged)")
    args = ap.parse_args(argv)
    f = N.fold_scores(args.data, args.repeats, args.ft_settings, args.head)
    base = replace(
        f.head,
        bands={"retrieved": f.head.bands["retrieved"]},
        thresholds={},
        stack=(),
        stack_cues=(),
        max_parts=H.MAX_PARTS,
    )
    rows = sweep(f.y, shifted_scores(f, N.stack_candidates(base)))
    print(json.dumps(rows))
    print("shift    acc     R       P       stmts   pii/dev")
    for row in rows:
        print("  ".join(f"{v:+.3f}" if k == "shift" else f"{v:.4f}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
