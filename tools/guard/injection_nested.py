"""The injection cascade's grouped-CV estimate with every choice made inside the fold, and its misses.

    python -m tools.guard.injection_nested --data ../shared/data [--repeats 2] [--misses]

Why: train_injection_head.choose picks the user band, the blend and the user threshold on the
out-of-fold scores of all grouped folds, and the figures it records (and bench/guard.py prints)
are read off those same scores, so they carry the optimism of that choice (48 grid points, 95
thresholds). `nested` chooses each fold's configuration with `choose` on the other folds' scores
only (train texts and held-out statements of those folds) and applies it to the fold. The second
stage's fold logits are the fine-tuned trainer's (ft_fold_logits.cached_fit), so no torch.

`stacked` is the recipe the cascade ships since (tools/guard/train_injection_stack.py), measured
with its choices inside the fold: instead of the fixed per-part blend, a logistic regression fitted
on the other folds' texts and statements over four numbers per text: the largest first-stage
logit, the largest fine-tuned second-stage logit and the largest logit of the logistic head on
frozen MiniLM sentence vectors (train_injection_head.lr_fit, its own fold fit) over the parts the
band sends, and whether any part was sent, then the text's cues (ragwright.guard.injection_cues:
role, control, imperative, length) that the candidate reads; cue set, band, max parts and C chosen
among stack_candidates on the other folds, threshold under the statements budget there. Measured
(2x5 grouped): with the cues, accuracy 0.963, recall 0.931, precision 0.969, held-out statements
2.0 %, pii/dev out of fold 3.1 % (role and control chosen in every fold); without them (STACK_CUES
= ((),)) 0.958 / 0.911 / 0.974 / 1.7 % / 4.3 %; the fixed blend 0.951 / 0.892 / 0.973 / 2.1 % /
5.0 %. Also measured with the cue set fixed on all folds (optimistic): role + control 0.969 with a
broader role pattern that also fired on "you are a/the ..." and "du bist ein ..." (compliments
flagged: not shipped), all four 0.967.

`--stack-dev` (STACK_DEV_MODES; default off, so pii/dev chooses nothing): "budget" also keeps a
fold's threshold under the 2 % budget on the other folds' pii/dev statements (scored out of fold by
template), "fit+budget" fits the stacker on them too. Measured on the shipped stage's folds
(rebuilt on one core in 3.6 min; the figures above reproduced to four decimals): budget 0.959 /
P 0.984 / R 0.904, held-out statements 1.4 %, pii/dev 2.1 %; fit+budget 0.964 / P 0.982 / R 0.921 /
1.9 % / 2.7 %, against 0.963 / 0.969 / 0.931 / 2.0 % / 3.1 %: pii/dev's points are bought with
recall (and on the top-two-layer fine-tunes likewise, train_injection_ft's docstring), so not
shipped. `--head` reads a trainer's --out JSON (its training sets, its fine-tuned settings).

What each lever measured: tools/guard/EXPERIMENTS.md.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ragwright.guard.injection import WEIGHTS_JSON, FeatureConfig, text_parts
from ragwright.guard.injection_cues import cue_features
from ragwright.guard.injection_head import HeadConfig, load_head

from . import train_injection as T
from . import train_injection_head as H

STACK_BANDS = ((0.1, 0.5), (0.1, 0.8), (0.05, 0.5), (0.1, 0.95))
STACK_MAX_PARTS = (1, 2, 3)
STACK_CS = (0.1, 1.0, 10.0)
# the stacker's cue inputs (injection_cues.cue_features): none; role and control; all four
STACK_CUES: tuple[tuple[int, ...], ...] = ((), (0, 1), (0, 1, 2, 3))
# what the stacker does with the pii/dev statements of the other folds (scored out of fold, by
# template): "" nothing (they are only reported); "budget": the threshold also flags at most
# SHIP_BUDGET of them; "fit+budget": they are also negatives of the stacker's fit
STACK_DEV_MODES = ("", "budget", "fit+budget")
STACK_DEV = ""


def _sig(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
    return out


@dataclass
class Split:
    """What `nested` needs besides the out-of-fold scores: labels and each text's fold per repeat."""

    y: np.ndarray
    folds: np.ndarray  # (repeats, texts)


def _part(oof: H.OutOfFold, r: int, keep_user: np.ndarray, keep_st: np.ndarray) -> H.OutOfFold:
    return H.OutOfFold(
        user=[[s for s, k in zip(oof.user[r], keep_user, strict=True) if k]],
        retrieved=[oof.retrieved[r]],
        statements=[[s for s, k in zip(oof.statements[r], keep_st, strict=True) if k]],
    )


def nested(oof: H.OutOfFold, split: Split, base: HeadConfig, first_retrieved: float) -> dict[str, Any]:
    """Each fold scored at the band, blend and user threshold `choose` picks on the other folds;
    figures pooled per repeat, then averaged (as the trainer's). `chosen`: per (repeat, fold)."""
    y, k = split.y, int(split.folds.max()) + 1
    preds, flagged, chosen, dev = [], [], [], []
    for r in range(len(oof.user)):
        pred = np.zeros(len(y), dtype=bool)
        st_fold = np.array(oof.statement_folds[r])
        m_fold = oof.measured_folds[r] if oof.measured_folds else []
        for f in range(k):
            other, st_other = split.folds[r] != f, st_fold != f
            cfg, _ = H.choose(_part(oof, r, other, st_other), y[other], base, first_retrieved)
            thr = cfg.thresholds["user"]
            chosen.append(
                {
                    "band": list(cfg.bands["user"]),
                    "first_weight": cfg.first_weight,
                    "offset": cfg.offset,
                    "threshold": thr,
                }
            )
            pred[~other] = [H.cascade_score(s, cfg)[0] >= thr for s, o in zip(oof.user[r], other, strict=True) if not o]
            flagged += [
                H.cascade_score(s, cfg)[0] >= thr for s, o in zip(oof.statements[r], st_other, strict=True) if not o
            ]
            dev += [
                H.cascade_score(s, cfg)[0] >= thr
                for s, g in zip(oof.measured[r] if oof.measured else [], m_fold, strict=True)
                if g == f
            ]
        preds.append(pred)
    return {
        **_figures(preds, y),
        "statements_flagged": float(np.mean(flagged)),
        "measured_flagged": float(np.mean(dev)) if dev else None,
        "chosen": chosen,
    }


def _figures(preds: Sequence[np.ndarray], y: np.ndarray) -> dict[str, float]:
    runs = [T.metrics(y, p.astype(np.int64)) for p in preds]
    return {
        key: float(np.mean([m[key] for m in runs]))
        for key in ("accuracy", "precision", "recall", "false_positive_rate")
    }


def stack_features(ft: H.Scored, lr: H.Scored, cfg: HeadConfig) -> list[float]:
    """A text's stacker input: largest first-stage logit; the fine-tuned and frozen-head logits'
    largest over the parts the band sends (0 when none is sent); whether any is; then the text's
    cues that cfg.stack_cues selects (injection_cues.cue_features)."""
    cues = [_cues(ft.text)[i] for i in cfg.stack_cues]
    sent = cfg.sent(_sig(ft.first), "user")
    if not sent.size:
        return [float(ft.first.max()), 0.0, 0.0, 0.0, *cues]
    return [float(ft.first.max()), float(ft.head[sent].max()), float(lr.head[sent].max()), 1.0, *cues]


@functools.cache
def _cues(text: str) -> tuple[float, ...]:
    return tuple(cue_features(text))


def stack_candidates(head: HeadConfig) -> list[tuple[HeadConfig, float]]:
    """The stacker settings chosen among inside each fold: cues x user band x max parts x C."""
    return [
        (
            replace(
                head, bands={**head.bands, "user": band}, max_parts={**head.max_parts, "user": mp}, stack_cues=cues
            ),
            c,
        )
        for cues, band, mp, c in itertools.product(STACK_CUES, STACK_BANDS, STACK_MAX_PARTS, STACK_CS)
    ]


def _rows(a: list[H.Scored], b: list[H.Scored], cfg: HeadConfig) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([stack_features(s, t, cfg) for s, t in zip(a, b, strict=True)]).reshape(-1, 4 + len(cfg.stack_cues))
    return x, np.array([s.rule for s in a], dtype=bool)


def stacked(
    ft: H.OutOfFold,
    lr: H.OutOfFold,
    split: Split,
    candidates: Sequence[tuple[HeadConfig, float]],
    dev_mode: str | None = None,
) -> dict[str, Any]:
    """The stacker of the module docstring. Per fold, each candidate (band, max parts, C) is fitted
    on the other folds' train texts and held-out statements and thresholded there under the
    statements budget; the candidate of best accuracy on those folds scores the fold (a rule still
    lifts a text to RULE_SCORE). `ft` and `lr`: the same folds scored by the two second stages.
    `dev_mode` (STACK_DEV_MODES, default STACK_DEV): whether the other folds' pii/dev statements
    bound the threshold and join the fit; the fold's own are scored either way."""
    dev_mode = STACK_DEV if dev_mode is None else dev_mode
    y, k = split.y, int(split.folds.max()) + 1
    preds, flagged, dev, chosen = [], [], [], []
    for r in range(len(ft.user)):
        m_ft, m_lr = (o.measured[r] if o.measured else [] for o in (ft, lr))
        feats = [
            (_rows(ft.user[r], lr.user[r], cfg), _rows(ft.statements[r], lr.statements[r], cfg), _rows(m_ft, m_lr, cfg))
            for cfg, _ in candidates
        ]
        st_fold, m_fold = np.array(ft.statement_folds[r]), np.array(ft.measured_folds[r] if ft.measured_folds else [])
        pred = np.zeros(len(y), dtype=bool)
        for f in range(k):
            other, st_other, m_other = split.folds[r] != f, st_fold != f, m_fold != f
            best: tuple[float, int, float, Any] | None = None
            for i, (((xu, ru), (xs, rs), (xm, rm)), (_, c)) in enumerate(zip(feats, candidates, strict=True)):
                fit_x, fit_n = [xu[other], xs[st_other]], int(st_other.sum())
                if "fit" in dev_mode and len(xm):
                    fit_x, fit_n = [*fit_x, xm[m_other]], fit_n + int(m_other.sum())
                score = _fit(np.vstack(fit_x), np.r_[y[other], np.zeros(fit_n)], c)
                su, ss = (np.where(rule, H.RULE_SCORE, score(x)) for x, rule in ((xu, ru), (xs, rs)))
                sm = np.where(rm, H.RULE_SCORE, score(xm))[m_other] if "budget" in dev_mode and len(xm) else None
                thr = _threshold(su[other], y[other], ss[st_other], sm)
                acc = float(((su[other] >= thr) == (y[other] == 1)).mean())
                if best is None or acc > best[0] + 1e-12:
                    best = (acc, i, thr, score)
            assert best is not None
            _, i, thr, score = best
            (xu, ru), (xs, rs), (xm, rm) = feats[i]
            chosen.append(
                {
                    "band": list(candidates[i][0].bands["user"]),
                    "max_parts": candidates[i][0].max_parts["user"],
                    "cues": list(candidates[i][0].stack_cues),
                    "C": candidates[i][1],
                    "threshold": thr,
                }
            )
            pred[~other] = np.where(ru, H.RULE_SCORE, score(xu))[~other] >= thr
            flagged += (np.where(rs, H.RULE_SCORE, score(xs))[~st_other] >= thr).tolist()
            if len(xm):
                dev += (np.where(rm, H.RULE_SCORE, score(xm))[m_fold == f] >= thr).tolist()
        preds.append(pred)
    return {
        **_figures(preds, y),
        "statements_flagged": float(np.mean(flagged)),
        "measured_flagged": float(np.mean(dev)) if dev else None,
        "chosen": chosen,
        "wrong": {i: int(sum(p[i] != y[i] for p in preds)) for i in range(len(y)) if any(p[i] != y[i] for p in preds)},
    }


def stack_params(x: np.ndarray, y: np.ndarray, c: float) -> tuple[float, ...]:
    """The stacker as HeadConfig.stack holds it: mean, scale, weights of the four inputs, bias
    (standardised logistic regression, train_injection_head.fit_dense_lr: the same every run)."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    w, b = H.fit_dense_lr((x - mu) / sd, y, c)
    return tuple(float(v) for v in (*mu, *sd, *w, b))


def _fit(x: np.ndarray, y: np.ndarray, c: float) -> Any:
    v, n = np.array(stack_params(x, y, c)), x.shape[1]
    return lambda z: _sig(((z - v[0:n]) / v[n : 2 * n]) @ v[2 * n : 3 * n] + v[3 * n])


def _threshold(scores: np.ndarray, y: np.ndarray, statements: np.ndarray, dev: np.ndarray | None = None) -> float:
    """The threshold of best accuracy among those flagging at most the budget of the statements
    (and of the pii/dev statements `dev`, when given)."""
    ok = [
        t
        for t in T.GRID
        if (statements >= t).mean() <= H.SHIP_BUDGET
        and (dev is None or not len(dev) or (dev >= t).mean() <= H.SHIP_BUDGET)
    ] or [float(T.GRID[-1])]
    accs = [((scores >= t) == (y == 1)).mean() for t in ok]
    return float(ok[int(np.argmax(accs))])


@dataclass(frozen=True)
class Miss:
    """A train text the shipped cascade gets wrong out of fold, in how many repeats, and why:
    its parts' first-stage probability and second-stage logit, and which parts were sent."""

    index: int
    label: int
    repeats: int
    score: float
    parts: list[tuple[str, float, float, bool]]  # (part, first-stage probability, stage-2 logit, sent)


def misses(oof: H.OutOfFold, y: np.ndarray, cfg: HeadConfig, texts: Sequence[str]) -> list[Miss]:
    """The out-of-fold misses at the shipped user threshold, false negatives first, short first."""
    thr, fc = cfg.thresholds["user"], FeatureConfig()
    wrong: dict[int, list[float]] = {}
    for row in oof.user:
        for i, s in enumerate(row):
            score = H.cascade_score(s, cfg)[0]
            if (score >= thr) != (y[i] == 1):
                wrong.setdefault(i, []).append(score)
    out = []
    for i, scores in wrong.items():
        s = oof.user[0][i]
        sent = set(cfg.sent(_sig(s.first), "user").tolist()) if not s.rule else set()
        parts = text_parts(texts[i], fc)
        out.append(
            Miss(
                i,
                int(y[i]),
                len(scores),
                scores[0],
                [
                    (p, float(_sig(a)), float(h), k in sent)
                    for k, (p, a, h) in enumerate(
                        zip(parts, s.first, s.head.reshape(len(parts), -1)[:, 0], strict=True)
                    )
                ],
            )
        )
    return sorted(out, key=lambda m: (-m.label, len(texts[m.index])))


@dataclass
class FoldScores:
    """The training set, its grouped folds and both second stages' out-of-fold scores (the
    fine-tuned stage's from the trainer's cached fits, the frozen head's fitted here), with the
    shipped head: what this estimate and train_injection_stack both start from."""

    texts: list[str]
    y: np.ndarray
    folds: Any
    ft: Any
    lr: Any
    head: HeadConfig
    info: dict[str, Any]
    emb: Any


def fold_scores(data: Path, repeats: int, ft_settings: Sequence[str] = (), head_json: Path | None = None) -> FoldScores:
    """`ft_settings`: the training runs whose fold logits are the fine-tuned stage's (several:
    averaged, train_injection_ft.averaged_fit); none: the head JSON's own."""
    from .ft_fold_logits import averaged_fit
    from .groups import near_duplicate_groups
    from .train_injection_ft import training_sets

    texts, y = T.load_jsonl(data / "injection" / "train.jsonl")
    emb = H.Embeddings()
    groups = near_duplicate_groups(texts, emb(texts))
    head, info = load_head(head_json) if head_json else load_head()
    sets = training_sets(data, info["train"])
    statements = [*(s := T.load_negatives(H.STATEMENTS))[0], *s[1], *sets.held]
    common: dict[str, Any] = {"extra": sets.train_only, "measured": sets.measured}
    base = (texts, y, groups, T.load_negatives(), statements, emb, repeats)
    runs = list(ft_settings) or [info["finetuned"]["settings"]]
    ft, folds = H.out_of_fold(*base, fit=averaged_fit(runs), **common)
    lr, _ = H.out_of_fold(*base, **common)
    return FoldScores(texts, y, folds, ft, lr, head, info, emb)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=2, help="at most the fine-tuned trainer's")
    ap.add_argument("--misses", action="store_true", help="list the shipped cascade's out-of-fold misses")
    ap.add_argument(
        "--ft-settings", nargs="+", default=[], help="fold logits of fine-tuned stages of these settings (averaged)"
    )
    ap.add_argument("--head", type=Path, help="a head JSON other than the shipped one (a trainer's --out)")
    ap.add_argument(
        "--stack-dev",
        choices=(*STACK_DEV_MODES, "all"),
        default=STACK_DEV,
        help="the stacker and pii/dev (experiments)",
    )
    args = ap.parse_args(argv)
    f = fold_scores(args.data, args.repeats, args.ft_settings, args.head)
    texts, y, ft, lr, head, emb = f.texts, f.y, f.ft, f.lr, f.head, f.emb
    split = Split(y, f.folds)
    from .train_injection_stack import paired  # here: that module imports this one

    scored = paired(ft, lr) if head.stack else ft
    if args.misses:
        for m in misses(scored, y, head, texts):
            head_line = f"{'FN' if m.label else 'FP'} [{m.index}] in {m.repeats} of {args.repeats}"
            print(f"{head_line}, score {m.score:.2f}: {texts[m.index][:200]!r}")
            for p, prob, logit, sent in m.parts if len(m.parts) > 1 else []:
                print(f"    p1 {prob:.2f} stage-2 {logit:+.1f} {'sent' if sent else '    '} {p[:100]!r}")
    emb.save()
    first_retrieved = float(
        json.loads(WEIGHTS_JSON.read_text(encoding="utf-8"))["thresholds"]["retrieved"]["with_rules"]
    )
    retrieved = {"retrieved": head.bands["retrieved"]}
    base = replace(head, bands=retrieved, thresholds={}, stack=(), stack_cues=(), max_parts=H.MAX_PARTS)
    modes = STACK_DEV_MODES if args.stack_dev == "all" else (args.stack_dev,)
    out = {
        "nested": nested(ft, split, base, first_retrieved),
        **{f"stacked{'_dev_' + m if m else ''}": stacked(ft, lr, split, stack_candidates(base), m) for m in modes},
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
