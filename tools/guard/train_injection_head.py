"""Train the injection cascade's second stage and choose how the cascade uses it, on grouped folds.

    python -m tools.guard.train_injection_head --data ../shared/data [--repeats 3]

Writes src/ragwright/guard/data/injection_head.json: 384 weights and a bias over MiniLM sentence
vectors (ragwright.models.embedding's local all-MiniLM-L6-v2), the score band of first-stage
probabilities sent to it, the blend of both stages' logits, and the cascade's thresholds.

How: the first stage (train_injection.py, shipped weights' recipe) is cross-validated on folds that
keep near duplicates together (groups.py), and each fold's model gives every held-out text's parts
their out-of-fold logits. On the same folds, a head is fitted on the training texts' MiniLM vectors
(benign texts and their sentences as negatives, injections whole, plus the hand-written negatives
and tools/guard/data/injection_benign_statements.jsonl: 94 ordinary statements, dialogues, forms
and second-person manual passages in English and German, written for this purpose, none taken
from any injection data set), and extra_negatives (SciFact train claims, PostgreSQL manual
sentences). A grid of (band, blend weight, offset) is scored on those out-of-fold parts exactly as
cascade.py scores them, each point at its best user threshold among those that flag at most
SHIP_BUDGET (issue 19's 2 %) of the ordinary statements held out by fold (the 94 hand-written
ones and the extra negatives, split into the same folds: every benign train text is a question,
so the train texts alone cannot show what a threshold does to statements). Among the points
within TIE of the best mean accuracy, the band with the highest upper end wins (then fewer texts
sent): above it a text is flagged with no second opinion, and text unlike every training text
scores there (an earlier build with ties broken by fewer texts sent flagged an onboarding.md
paragraph sent as a user message). The threshold of best accuracy without the budget is recorded
beside it ("best_accuracy", not shipped). The second stage this script fits is the logistic head;
train_injection_ft.py fine-tunes MiniLM instead and uses the same folds and choice (`Fit`).
Retrieved chunks get a second opinion only on what the first stage flags (see choose). The first
stage is trained
without the statements: measured here, they cost it a point of grouped accuracy (0.955 -> 0.945)
while the head takes them at no cost.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ragwright.guard.injection import RULE_SCORE, WEIGHTS_JSON, FeatureConfig, fired_rules, text_parts
from ragwright.guard.injection_head import EMBEDDER, HEAD_JSON, HeadConfig, weights_sha256

from . import TRAINING_DATA
from . import train_injection as T
from .groups import near_duplicate_groups

STATEMENTS = TRAINING_DATA / "injection_benign_statements.jsonl"
NER_SYNTHETIC = TRAINING_DATA / "ner_synthetic.jsonl"
VECTOR_CACHE = Path.home() / ".cache" / "ragwright" / "injection_minilm_vectors.npz"
EXTRA_PER_SOURCE = 300  # SciFact train claims and PostgreSQL manual sentences each (extra_negatives)
C_HEAD = 1.0  # inverse L2 strength of the head; 0.3 / 1 / 3 / 10 gave 0.955 / 0.956 / 0.956 / 0.955
TIE = 0.002  # accuracies closer than this (one text in 546) are a tie
SHIP_BUDGET = 0.02  # issue 19: at most 2 % of ordinary statements flagged; the shipped user threshold keeps to it
MAX_PARTS = {"user": 2, "retrieved": 3}  # parts per text sent to the second stage (latency bound)
GRID = {
    "low": (0.05, 0.1),
    "high": (0.5, 0.8, 0.95),
    "first_weight": (0.35, 0.5),
    "offset": (0.0, -0.5),
}


class Embeddings:
    """MiniLM vectors by text, computed once per run (the CV sees each part many times), and kept
    between runs in VECTOR_CACHE (by the text's sha256; the trainer and bench/guard.py embed the
    same 3,000-odd parts, several minutes on a busy machine). `save()` writes it."""

    def __init__(self, path: Path | None = None) -> None:
        from ragwright.models.embedding import LocalMiniLM

        self.model = LocalMiniLM(threads=2)
        self.path = path or VECTOR_CACHE
        self.cache: dict[str, np.ndarray] = {}
        self.stored: dict[str, np.ndarray] = {}
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as z:
                self.stored = dict(zip(z["keys"].tolist(), z["vectors"].astype(np.float64), strict=True))

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        for t in dict.fromkeys(texts):
            if t not in self.cache and (k := _digest(t)) in self.stored:
                self.cache[t] = self.stored[k]
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            self.cache.update(zip(todo, np.asarray(self.model.embed(todo), dtype=np.float64), strict=True))
        return np.array([self.cache[t] for t in texts]).reshape(len(texts), -1)

    def save(self) -> None:
        self.stored.update({_digest(t): v for t, v in self.cache.items()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.stored)
        np.savez(self.path, keys=np.array(keys), vectors=np.array([self.stored[k] for k in keys], dtype=np.float32))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def extra_negatives(data: Path, n: int = EXTRA_PER_SOURCE) -> list[str]:
    """Ordinary statements and manual sentences the training set lacks (every benign train text is
    a question): SciFact *train* claims (short declarative statements), sentences of the
    PostgreSQL manual (pgdocs-qa, second-person instructions to a reader), and the name tagger's
    synthetic sentences (data/ner_synthetic.jsonl: e-mails, invoices, records, dialogues from
    hand-written templates, not from the dev set), n of each, a fixed draw. None is a corpus
    bench/guard.py measures false alarms on (SciFact and PubMedQA passages, pii/dev statements,
    the sample corpus), so those stay unseen. Why the third: with the first two only, the cascade
    flagged 13.7 % of pii/dev's statements (forms, "Bot: ... User: ..." dialogues) while the
    held-out claims and manual sentences stayed under 2 %."""
    rng = np.random.default_rng(T.SEED)
    claims_file = data / "scifact" / "queries_train.jsonl"
    claims = [json.loads(line)["text"] for line in claims_file.read_text(encoding="utf-8").splitlines()]
    sentences: list[str] = []
    for page in sorted((data / "pgdocs-qa" / "corpus").glob("*.html")):
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8", errors="replace")))
        sentences += [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 40 <= len(s.strip()) <= 300]
    unique = sorted(set(sentences))
    synthetic = [json.loads(line)["text"] for line in NER_SYNTHETIC.read_text(encoding="utf-8").splitlines()]
    return [
        *(claims[i] for i in sorted(rng.permutation(len(claims))[:n])),
        *(unique[i] for i in sorted(rng.permutation(len(unique))[:n])),
        *(synthetic[i] for i in sorted(rng.permutation(len(synthetic))[:n])),
    ]


def fit_dense_lr(X: np.ndarray, y: np.ndarray, C: float) -> tuple[np.ndarray, float]:
    """L2 logistic regression on dense rows (scikit-learn's LogisticRegression(C) loss: C * log-loss
    + |w|^2 / 2, bias unpenalised), by Newton's method. Why not logreg.lbfgs: its line search can
    stop early on a flat step, and a refit then lands elsewhere (measured: a shipped head with
    gradient norm 3.8 beside a refit at 1e-5); with 385 unknowns the exact Newton step is cheap and
    converges the same way every time."""
    Xb = np.hstack([X, np.ones((X.shape[0], 1))])
    reg = np.ones(Xb.shape[1])
    reg[-1] = 0.0
    theta = np.zeros(Xb.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(Xb @ theta)))
        grad = C * (Xb.T @ (p - y)) + reg * theta
        hess = C * (Xb.T @ (Xb * (p * (1.0 - p))[:, None])) + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    return theta[:-1], float(theta[-1])


Fit = Callable[[list[str], np.ndarray, tuple[int, int]], Callable[[Sequence[str]], np.ndarray]]


def lr_fit(emb: Embeddings) -> Fit:
    """The logistic head on MiniLM vectors as a fold's second stage: (examples, labels, (repeat,
    fold)) -> a scorer of parts."""

    def fit(ex: list[str], lab: np.ndarray, _fold: tuple[int, int]) -> Callable[[Sequence[str]], np.ndarray]:
        w, b = fit_dense_lr(emb(ex), lab, C_HEAD)
        return lambda parts: emb(parts) @ w + b

    return fit


def head_examples(
    texts: Sequence[str], y: np.ndarray, negatives: Sequence[str], cfg: FeatureConfig
) -> tuple[list[str], np.ndarray]:
    """What the head learns from: benign texts with their sentences, injections whole, negatives."""
    out: list[str] = []
    labels: list[int] = []
    for t, label in [*zip(texts, y.tolist(), strict=True), *((n, 0) for n in negatives)]:
        parts = [t] if label == 1 else list(dict.fromkeys([t, *text_parts(t, cfg)]))
        out += parts
        labels += [label] * len(parts)
    return out, np.array(labels, dtype=np.float64)


@dataclass
class Scored:
    """One scored text: its parts' first-stage logits and head logits, and whether a rule fired."""

    first: np.ndarray
    head: np.ndarray
    rule: bool
    text: str = ""  # the text itself, for the stacker's cue features (injection_cues)


def cascade_score(s: Scored, cfg: HeadConfig, source: str = "user") -> tuple[float, bool]:
    """The text's cascade score as cascade.py computes it, and whether the second stage ran."""
    p = 1.0 / (1.0 + np.exp(-s.first))
    if s.rule:
        return max(float(p.max()), RULE_SCORE), False
    sent = cfg.sent(p, source)
    head = s.head.reshape(len(s.first), -1)  # column 0 the fine-tuned (or only) head, 1 the frozen one
    if cfg.stack and source == "user":
        if head.shape[1] != 2:
            raise ValueError("a stacked head scores from both second stages' logits (train_injection_stack.paired)")
        z, cues = float(s.first.max()), cfg.cue_inputs(s.text)
        if not sent.size:
            return cfg.stacked(z, 0.0, 0.0, False, cues), False
        return cfg.stacked(z, float(head[sent, 0].max()), float(head[sent, 1].max()), True, cues), True
    scores = p.copy()
    scores[sent] = cfg.blend(s.first[sent], head[sent, 0])
    return float(scores.max()), bool(sent.size)


@dataclass
class OutOfFold:
    """Per repeat: the train texts' scored parts (user) and held-out passages' (retrieved)."""

    user: list[list[Scored]]
    retrieved: list[list[tuple[Scored, int]]]
    statements: list[list[Scored]]  # the generated benign statements, held out by fold, as user messages
    measured: list[list[Scored]] = field(default_factory=list)  # Measured texts, out of fold (chooses nothing)
    statement_folds: list[list[int]] = field(default_factory=list)  # the fold each of `statements` was held out in
    measured_folds: list[list[int]] = field(default_factory=list)  # and each of `measured`


@dataclass
class Measured:
    """Benign texts the second stage trains on in the other folds and that are scored out of fold
    only to be reported (shaped_negatives.dev_statements: pii/dev by template): a group per text,
    its fold drawn per repeat (shaped_negatives.group_folds)."""

    texts: list[str]
    groups: np.ndarray
    per_group: int = 0  # trained on: at most this many texts of a group (first in file order); 0: all

    def trained(self) -> np.ndarray:
        """Which texts a fold trains on when their group is not held out (all are scored)."""
        if not self.per_group:
            return np.ones(len(self.texts), dtype=bool)
        seen: dict[int, int] = {}
        keep = []
        for g in self.groups.tolist():
            seen[g] = seen.get(g, 0) + 1
            keep.append(seen[g] <= self.per_group)
        return np.array(keep, dtype=bool)

    def folds(self, repeat: int, k: int) -> np.ndarray:
        from .shaped_negatives import group_folds

        return group_folds(self.groups, k, T.SEED + 4000 + repeat)


def out_of_fold(
    texts: list[str],
    y: np.ndarray,
    groups: np.ndarray,
    negatives: tuple[list[str], list[str]],
    statements: list[str],
    emb: Embeddings,
    repeats: int,
    folds: int = 5,
    fit: Fit | None = None,
    extra: Sequence[str] = (),
    measured: Measured | None = None,
) -> tuple[OutOfFold, np.ndarray]:
    """First stage and head cross-validated on the same grouped folds (module docstring). `fit`
    trains the second stage on one fold's examples (default: the logistic head on MiniLM vectors;
    train_injection_ft.py passes its fine-tuning), so it never scores a text of the fold it saw.
    `extra`: more negatives for the second stage only (extra_negatives), trained on in every fold
    and never scored. `measured`: trained on in the other folds, scored in its own, reported only."""
    fit = fit or lr_fit(emb)
    meas = measured or Measured([], np.zeros(0, dtype=np.int64))
    passages, questions = negatives
    feats = T.Features(FeatureConfig())
    cfg = feats.cfg
    rules = [bool(fired_rules(t)) for t in texts]
    user: list[list[Scored | None]] = [[None] * len(texts) for _ in range(repeats)]
    retrieved: list[list[tuple[Scored, int]]] = [[] for _ in range(repeats)]
    held_statements: list[list[Scored]] = [[] for _ in range(repeats)]
    held_measured: list[list[Scored]] = [[] for _ in range(repeats)]
    fold_of: tuple[list[list[int]], list[list[int]]] = ([[] for _ in range(repeats)], [[] for _ in range(repeats)])
    calls = [0]

    def on_fold(scorer: T.Scorer, te: np.ndarray) -> None:
        r, f = divmod(calls[0], folds)
        calls[0] += 1
        held = set(te.tolist())
        tr = [i for i in range(len(texts)) if i not in held]
        rng = np.random.default_rng(T.SEED + 1000 + r)
        p_fold = rng.permutation(len(passages)) % folds  # the passages cross_validate holds out here
        train_p = [p for p, k in zip(passages, p_fold, strict=True) if k != f]
        s_fold = np.random.default_rng(T.SEED + 3000 + r).permutation(len(statements)) % folds
        train_s = [t for t, k in zip(statements, s_fold, strict=True) if k != f]
        m_fold = meas.folds(r, folds)
        train_m = [t for t, k, keep in zip(meas.texts, m_fold, meas.trained(), strict=True) if k != f and keep]
        negs = [*train_p, *questions, *train_s, *extra, *train_m]
        ex, lab = head_examples([texts[i] for i in tr], y[tr], negs, cfg)
        second = fit(ex, lab, (r, f))

        def scored(text: str, source: str, rule: bool) -> Scored:
            parts = text_parts(text, cfg, source)
            return Scored(scorer.model.logits([feats(p) for p in parts]), second(parts), rule, text)

        for i in te.tolist():
            user[r][i] = scored(texts[i], "user", rules[i])
        held_statements[r] += [
            scored(t, "user", bool(fired_rules(t))) for t, k in zip(statements, s_fold, strict=True) if k == f
        ]
        held_measured[r] += [
            scored(t, "user", bool(fired_rules(t))) for t, k in zip(meas.texts, m_fold, strict=True) if k == f
        ]
        fold_of[0][r] += [f] * (len(held_statements[r]) - len(fold_of[0][r]))
        fold_of[1][r] += [f] * (len(held_measured[r]) - len(fold_of[1][r]))
        test_p = [p for p, k in zip(passages, p_fold, strict=True) if k == f]
        inj = np.random.default_rng(T.SEED + 2000 + calls[0])
        attacks = [texts[i] for i in te.tolist() if y[i] == 1]
        chunks = [(p, 0) for p in test_p] + [
            (T.inject(test_p[j % len(test_p)], a, inj), 1) for j, a in enumerate(attacks)
        ]
        retrieved[r] += [(scored(c, "retrieved", bool(fired_rules(c))), lab) for c, lab in chunks]

    cv = T.cross_validate(
        texts, y, feats, T.C_DEFAULT, passages, questions, folds, repeats, T.SEED, on_fold, groups=groups
    )
    rows = [[s for s in row if s is not None] for row in user]
    return OutOfFold(rows, retrieved, held_statements, held_measured, *fold_of), cv.folds


def _user_point(
    oof: OutOfFold, y: np.ndarray, cfg: HeadConfig, budget: float | None = None
) -> tuple[float, float, float]:
    """(mean accuracy, share sent, threshold) of one configuration on the user texts, at the
    threshold of best accuracy; with a `budget`, among the thresholds that flag at most that share
    of the held-out generated statements."""
    runs, sent = [], []
    for row in oof.user:
        got = [cascade_score(s, cfg) for s in row]
        runs.append((np.array([g[0] for g in got]), y))
        sent.append(np.mean([g[1] for g in got]))
    ok = list(T.GRID)
    if budget is not None:
        held = [np.array([cascade_score(s, cfg)[0] for s in row]) for row in oof.statements]
        ok = [t for t in T.GRID if np.mean([(h >= t).mean() for h in held]) <= budget] or [T.GRID[-1]]
    accs = [float(np.mean([((s >= t) == (lab == 1)).mean() for s, lab in runs])) for t in ok]
    k = int(np.argmax(accs))
    return accs[k], float(np.mean(sent)), float(ok[k])


def measured_flagged(oof: OutOfFold, cfg: HeadConfig, thr: float) -> float | None:
    """Share of the Measured texts flagged out of fold at `thr` (mean over repeats), None without."""
    if not any(oof.measured):
        return None
    return float(np.mean([np.mean([cascade_score(s, cfg)[0] >= thr for s in row]) for row in oof.measured]))


def _statements_flagged(oof: OutOfFold, cfg: HeadConfig, thr: float) -> float:
    return float(np.mean([np.mean([cascade_score(s, cfg)[0] >= thr for s in row]) for row in oof.statements]))


def _retrieved_runs(oof: OutOfFold, cfg: HeadConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (np.array([cascade_score(s, cfg, "retrieved")[0] for s, _ in row]), np.array([lab for _, lab in row]))
        for row in oof.retrieved
    ]


def choose(
    oof: OutOfFold, y: np.ndarray, base: HeadConfig, first_retrieved: float
) -> tuple[HeadConfig, dict[str, Any]]:
    """User messages: the grid point with the best mean grouped-CV accuracy (ties: module docstring),
    and beside it the threshold of best accuracy within the statements' budget (not shipped).
    Retrieved chunks: a second opinion on what the first stage flags, nothing more: the band starts
    at the first stage's own threshold and the cascade keeps it, so the second stage can clear a
    flagged chunk but never flag one the first stage let through. Why: with its own band and a
    threshold chosen on the hand-written passages (0.2), the cascade flagged 9 % of SciFact
    abstracts against the first stage's 1.6 % (measured while building this)."""
    points = []
    for low, high, a, c in itertools.product(*GRID.values()):
        cfg = replace(base, bands={**base.bands, "user": (low, high)}, first_weight=a, offset=c)
        points.append((*_user_point(oof, y, cfg, SHIP_BUDGET), cfg))
    top = max(p[0] for p in points)
    acc, sent, thr, cfg = max((p for p in points if p[0] >= top - TIE), key=lambda p: (p[3].bands["user"][1], -p[1]))
    cfg = replace(
        cfg,
        bands={**cfg.bands, "retrieved": (first_retrieved, 1.01)},
        thresholds={"user": thr, "retrieved": first_retrieved},
    )
    thr_best = _user_point(oof, y, cfg)[2]
    runs = _user_runs(oof, cfg, y)
    return cfg, {
        "user_accuracy": acc,
        "user_sent_share": sent,
        "user": {k: v["mean"] for k, v in T.repeat_metrics(runs, thr).items()},
        "statements_held_out_flagged": _statements_flagged(oof, cfg, thr),
        "fewer_false_alarms": {  # what ships: the best accuracy within SHIP_BUDGET of statements
            "threshold": thr,
            "statements_held_out_flagged": _statements_flagged(oof, cfg, thr),
            "measured_out_of_fold_flagged": measured_flagged(oof, cfg, thr),
            **{k: v["mean"] for k, v in T.repeat_metrics(runs, thr).items()},
        },
        "best_accuracy": {  # the same cascade at the threshold of best accuracy (not shipped)
            "threshold": thr_best,
            "statements_held_out_flagged": _statements_flagged(oof, cfg, thr_best),
            "measured_out_of_fold_flagged": measured_flagged(oof, cfg, thr_best),
            **{k: v["mean"] for k, v in T.repeat_metrics(runs, thr_best).items()},
        },
        "retrieved": T.repeat_metrics(_retrieved_runs(oof, cfg), first_retrieved),
    }


def _user_runs(oof: OutOfFold, cfg: HeadConfig, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.array([cascade_score(s, cfg)[0] for s in row]), y) for row in oof.user]


def first_stage_only(oof: OutOfFold, y: np.ndarray) -> dict[str, Any]:
    """The first stage alone on the same folds (the cascade's baseline), thresholds chosen alike."""

    def score(s: Scored) -> float:
        return max(float(1 / (1 + np.exp(-s.first.max()))), RULE_SCORE if s.rule else 0.0)

    runs = [(np.array([score(s) for s in row]), y) for row in oof.user]
    r_runs = [(np.array([score(s) for s, _ in row]), np.array([lab for _, lab in row])) for row in oof.retrieved]
    thr, thr_r = T.best_threshold(runs), T.threshold_at_fpr(r_runs)
    return {
        "threshold": thr,
        **{k: v["mean"] for k, v in T.repeat_metrics(runs, thr).items()},
        "retrieved": {"threshold": thr_r, **{k: v["mean"] for k, v in T.repeat_metrics(r_runs, thr_r).items()}},
    }


def cascade_record(
    cfg: HeadConfig, figures: dict[str, Any], oof: OutOfFold, y: np.ndarray, repeats: int
) -> dict[str, Any]:
    """The head JSON's "cascade" (how the cascade uses its second stage) and "cv" (the figures on
    the grouped folds), for either second stage."""
    return {
        "cascade": {
            "bands": {k: list(v) for k, v in cfg.bands.items()},
            "first_weight": cfg.first_weight,
            "offset": cfg.offset,
            "thresholds": cfg.thresholds,
            "max_parts": cfg.max_parts,
        },
        "cv": {
            "split": "grouped",
            "folds": 5,
            "repeats": repeats,
            "seed": T.SEED,
            "grid": GRID,
            **figures,
            "first_stage_alone": first_stage_only(oof, y),
        },
    }


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="the folder holding injection/train.jsonl")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HEAD_JSON)
    ap.add_argument("--no-extra", action="store_true", help="without the extra negatives (extra_negatives)")
    args = ap.parse_args(argv)
    train_path = args.data / "injection" / "train.jsonl"
    texts, y = T.load_jsonl(train_path)
    negatives = T.load_negatives()
    statements = [*(s := T.load_negatives(STATEMENTS))[0], *s[1]]
    extra = [] if args.no_extra else extra_negatives(args.data)
    emb = Embeddings()
    groups = near_duplicate_groups(texts, emb(texts))
    oof, _ = out_of_fold(texts, y, groups, negatives, [*statements, *extra], emb, args.repeats)
    ex, lab = head_examples(texts, y, [*negatives[0], *negatives[1], *statements, *extra], FeatureConfig())
    w, b = fit_dense_lr(emb(ex), lab, C_HEAD)
    emb.save()
    w, b = np.round(w, 8), round(b, 8)
    first_meta = json.loads(WEIGHTS_JSON.read_text(encoding="utf-8"))
    first_retrieved = float(first_meta["thresholds"]["retrieved"]["with_rules"])
    cfg, figures = choose(oof, y, HeadConfig(w, b, {}, 0.5, 0.0, {}, MAX_PARTS), first_retrieved)
    info = {
        "model": f"logistic regression on {EMBEDDER} sentence vectors (ragwright.models.embedding.LocalMiniLM)",
        "C": C_HEAD,
        "weights": w.tolist(),
        "bias": b,
        "weights_sha256": weights_sha256(w, b),
        **cascade_record(cfg, figures, oof, y, args.repeats),
        "train": {
            "texts": len(texts),
            "sha256": sha(train_path),
            "negatives_sha256": sha(T.NEGATIVES),
            "statements_sha256": sha(STATEMENTS),
            "head_examples": len(ex),
            "extra_negatives": len(extra),
            "extra_per_source": EXTRA_PER_SOURCE,
        },
    }
    args.out.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: info[k] for k in ("cascade", "cv")}, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
