"""Train the prompt-injection classifier and write its shipped weights.

    python -m tools.guard.train_injection --data ../shared/data/injection/train.jsonl

The model is a logistic regression over sparse hashed features, each scaled by how well it tells
the classes apart in the training texts (NBSVM-style, `logreg.fit_nb_lr`), fitted in numpy in a
fraction of a second; bit-for-bit reproducible (seeded folds, no threads). The scaling, measured by
bench/guard.py: direct accuracy 0.953 -> 0.961, recall on retrieved chunks carrying an injection
0.82 -> 0.88 at the same false-alarm rate on held-out passages; false alarms on SciFact abstracts
4.0 % -> 1.4 %, on PubMedQA passages 2.8 % -> 4.6 %, on benign statements 7.7 % -> 12.5 %.

Why the hand-written negatives (tools/guard/data/injection_negatives.jsonl: 40 benign questions that use an
attack's words, "How do I ignore a folder in git?", and 65 benign passages, English and German):
every benign text of train.jsonl is a short prompt, so without passages any declarative paragraph,
that is any retrieved chunk, lies outside what the model saw. Measured by bench/guard.py on the
same 5x5 train.jsonl folds (detector + rules; each negative held out with its fold), trained on
none / questions / passages / both: direct accuracy 0.967 / 0.968 / 0.959 / 0.961; recall on
held-out passages with an injection inserted, at <= 2 % false alarms on clean ones, 0.74 / 0.82 /
0.86 / 0.88. The passages cost under a point of direct accuracy and buy 6 to 14 points of indirect
recall, so both stay. A model per source (user messages trained without the passages: 0.963
before the scaling) was measured and not taken: it flagged 35 % of benign statements (pii/dev.jsonl
as user messages, bench/guard.py) against 8 %, since every benign train text is a question or a
keyword query and without the passages a statement itself looks like an attack. 60 hand-written
benign statements (English and German) as further negatives did not lower that rate.

Honest estimate: stratified folds put near duplicates (a question with and without an attack
appended, one attack behind several questions) on both sides of a split. Folds grouped by near
duplicates (tools/guard/groups.py; bench/guard.py prints both, 5x5, same run): detector + rules
accuracy 0.961 -> 0.954, recall 0.934 -> 0.945 at the threshold each split chooses; the classifier
alone 0.956 -> 0.933; TF-IDF char n-grams + LR 0.938 -> 0.912 (the rules saw every text: optimistic).

Thresholds, one per source, are chosen by repeated stratified cross-validation on the training
texts only (the held-out test set is never looked at): "user" on the train texts themselves,
"retrieved" on hand-written benign passages (data/injection_negatives.jsonl here) held out by fold,
clean and with a held-out injection inserted: the lowest threshold with at most 2 % false alarms
on them. The shipped model is then fitted on all of them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ragwright.guard.injection import (
    RULE_SCORE,
    WEIGHTS_JSON,
    WEIGHTS_NPZ,
    FeatureConfig,
    LinearModel,
    featurize,
    fired_rules,
    text_parts,
)

from . import TRAINING_DATA
from .groups import grouped_folds, near_duplicate_groups
from .logreg import Sparse, fit_nb_lr

C_DEFAULT = 10.0  # inverse L2 strength, chosen by CV among 1, 3, 10, 30, 100
SEED = 20240
NEGATIVES = TRAINING_DATA / "injection_negatives.jsonl"


def load_jsonl(path: Path) -> tuple[list[str], np.ndarray]:
    """Texts and 0/1 labels of a {"text", "label"} JSONL file."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows], np.array([int(r["label"]) for r in rows], dtype=np.int64)


def load_negatives(path: Path = NEGATIVES) -> tuple[list[str], list[str]]:
    """Hand-written benign texts: (passages, questions). Why: every benign training text is a short
    question, so without benign passages any declarative paragraph looks like an attack."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return ([r["text"] for r in rows if r["kind"] == "passage"], [r["text"] for r in rows if r["kind"] != "passage"])


# ----------------------------------------------------------------------------- training (MIL)


class Features:
    """featurize() with a cache: cross-validation sees each text (and sentence) many times."""

    def __init__(self, cfg: FeatureConfig) -> None:
        self.cfg = cfg
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        row = self._cache.get(text)
        if row is None:
            row = self._cache[text] = featurize(text, self.cfg)
        return row


class Scorer:
    """Scores texts with fitted weights exactly as InjectionDetector does (max over parts)."""

    def __init__(self, feats: Features, w: np.ndarray, b: float) -> None:
        self.feats, self.model = feats, LinearModel(feats.cfg, w, b)

    def part_scores(self, text: str, source: str = "user") -> np.ndarray:
        z = self.model.logits([self.feats(p) for p in text_parts(text, self.feats.cfg, source)])
        p: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return p

    def __call__(self, texts: Sequence[str], source: str = "user") -> np.ndarray:
        return np.array([self.part_scores(t, source).max() for t in texts])


def with_rules(p: np.ndarray, texts: Sequence[str]) -> np.ndarray:
    fired = np.array([bool(fired_rules(t)) for t in texts])
    return np.where(fired, np.maximum(p, RULE_SCORE), p)


def train(
    texts: Sequence[str], y: np.ndarray, feats: Features, C: float = C_DEFAULT, negatives: Sequence[str] = ()
) -> Scorer:
    """Multiple-instance logistic regression, two rounds.

    Round 1: every benign text and each of its sentences is a negative; every injection is a
    positive as a whole. Round 2 adds, for each multi-sentence injection, the sentence that round 1
    scores highest as a positive too: in "<benign question> <attack>" only the attack is, and
    without this the benign question's n-grams learn to look like an attack.
    """
    base_t: list[str] = []
    base_y: list[int] = []
    for t, label in [*zip(texts, y.tolist(), strict=True), *((n, 0) for n in negatives)]:
        for p in dict.fromkeys([t, *text_parts(t, feats.cfg)]) if label == 0 else [t]:
            base_t.append(p)
            base_y.append(label)
    w, b = fit_nb_lr(Sparse.build([feats(t) for t in base_t]), np.array(base_y), C, feats.cfg.dim)
    first = Scorer(feats, w, b)
    extra = []
    for t, label in zip(texts, y.tolist(), strict=True):
        sents = text_parts(t, feats.cfg, "retrieved")
        if label == 1 and len(sents) > 1:
            extra.append(sents[int(np.argmax(first.part_scores(t, "retrieved")))])
    X = Sparse.build([feats(t) for t in [*base_t, *extra]])
    w, b = fit_nb_lr(X, np.array(base_y + [1] * len(extra)), C, feats.cfg.dim)
    return Scorer(feats, w, b)


# ----------------------------------------------------------------------------- cross-validation


def stratified_folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold number per sample; each class spread evenly over the folds, order seeded."""
    rng = np.random.default_rng(seed)
    fold = np.empty(y.size, dtype=np.int64)
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        idx = idx[rng.permutation(idx.size)]
        fold[idx] = np.arange(idx.size) % k
    return fold


def inject(passage: str, attack: str, rng: np.random.Generator) -> str:
    """The attack inserted at a random sentence boundary of the passage (indirect injection)."""
    sents = text_parts(passage, FeatureConfig(max_segment=10**9), "retrieved")
    at = int(rng.integers(0, len(sents) + 1))
    return " ".join([*sents[:at], attack, *sents[at:]])


@dataclass
class CVResult:
    """Out-of-fold scores, shape (repeats, n), for the train texts as user messages and for the
    held-out benign passages, clean and with a held-out injection inserted, as retrieved chunks."""

    y: np.ndarray
    user: np.ndarray
    folds: np.ndarray
    texts: list[str]
    retrieved: list[tuple[np.ndarray, np.ndarray, list[str]]]  # per repeat: scores, labels, texts

    def user_scores(self, rules: bool) -> np.ndarray:
        return np.stack([with_rules(s, self.texts) for s in self.user]) if rules else self.user

    def retrieved_scores(self, rules: bool) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(with_rules(s, t) if rules else s, lab) for s, lab, t in self.retrieved]


def cross_validate(
    texts: Sequence[str],
    y: np.ndarray,
    feats: Features,
    C: float = C_DEFAULT,
    passages: Sequence[str] = (),
    questions: Sequence[str] = (),
    folds: int = 5,
    repeats: int = 5,
    seed: int = SEED,
    on_fold: Callable[[Scorer, np.ndarray], None] | None = None,
    train_on: Sequence[str] = ("passages", "questions"),
    groups: np.ndarray | None = None,
) -> CVResult:
    """Repeated stratified k-fold on the train texts; the hand-written negatives are split into
    the same number of folds, so neither a scored text nor a scored passage was trained on.
    `on_fold(scorer, test_indices)` lets a caller score its own texts with each fold's model;
    `train_on` names the kinds of hand-written negatives trained on (the held-out passages are
    scored either way): the bench's ablation. `groups` (a near-duplicate group id per text,
    tools/guard/groups.py) makes the folds grouped: no text is scored by a model trained on a near
    duplicate of it."""
    n = len(texts)
    user = np.empty((repeats, n))
    assign = np.empty((repeats, n), dtype=np.int64)
    retrieved = []
    for r in range(repeats):
        fold = assign[r] = (
            stratified_folds(y, folds, seed + r) if groups is None else grouped_folds(y, groups, folds, seed + r)
        )
        rng = np.random.default_rng(seed + 1000 + r)
        p_fold = rng.permutation(len(passages)) % folds
        q_fold = rng.permutation(len(questions)) % folds
        r_scores: list[float] = []
        r_labels: list[int] = []
        r_texts: list[str] = []
        for f in range(folds):
            tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            negs = [p for p, k in zip(passages, p_fold, strict=True) if k != f and "passages" in train_on] + [
                q for q, k in zip(questions, q_fold, strict=True) if k != f and "questions" in train_on
            ]
            scorer = train([texts[i] for i in tr.tolist()], y[tr], feats, C, negs)
            user[r, te] = scorer([texts[i] for i in te.tolist()])
            if on_fold is not None:
                on_fold(scorer, te)
            held = [p for p, k in zip(passages, p_fold, strict=True) if k == f]
            if held:
                attacks = [texts[i] for i in te.tolist() if y[i] == 1]
                chunk = held + [inject(held[j % len(held)], a, rng) for j, a in enumerate(attacks)]
                r_scores += scorer(chunk, "retrieved").tolist()
                r_labels += [0] * len(held) + [1] * len(attacks)
                r_texts += chunk
        if r_texts:
            retrieved.append((np.array(r_scores), np.array(r_labels), r_texts))
    return CVResult(y, user, assign, list(texts), retrieved)


def metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    prec = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    tnr = float(((pred == 0) & (y == 0)).sum() / max((y == 0).sum(), 1))
    return {
        "accuracy": float((pred == y).mean()),
        "precision": prec,
        "recall": rec,
        "f1": f1,
        "false_positive_rate": 1.0 - tnr,
    }


def summary(values: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        k: {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0} for k, v in values.items()
    }


def fold_metrics(y: np.ndarray, scores: np.ndarray, assign: np.ndarray, thr: float) -> dict[str, dict[str, float]]:
    """Mean and sd over every (repeat, fold) of accuracy, precision, recall, F1."""
    per: dict[str, list[float]] = {}
    for r in range(scores.shape[0]):
        for f in np.unique(assign[r]):
            te = assign[r] == f
            for key, val in metrics(y[te], (scores[r, te] >= thr).astype(np.int64)).items():
                per.setdefault(key, []).append(val)
    return summary(per)


def repeat_metrics(runs: Sequence[tuple[np.ndarray, np.ndarray]], thr: float) -> dict[str, dict[str, float]]:
    """Mean and sd over repeats (each repeat pools its folds: the passages are few per fold)."""
    per: dict[str, list[float]] = {}
    for s, lab in runs:
        for key, val in metrics(lab, (s >= thr).astype(np.int64)).items():
            per.setdefault(key, []).append(val)
    return summary(per)


GRID = np.round(np.arange(0.05, 0.991, 0.01), 2)
MAX_FPR_RETRIEVED = 0.02  # a flagged chunk is dropped from the context: false alarms cost answers


def best_threshold(runs: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """The threshold with the best mean out-of-fold accuracy, taken in the middle of the longest
    run of best values: stable against one lucky grid point."""
    vals = np.array([np.mean([((s >= t) == (lab == 1)).mean() for s, lab in runs]) for t in GRID])
    best = np.flatnonzero(vals >= vals.max() - 1e-12)
    run = max(np.split(best, np.flatnonzero(np.diff(best) != 1) + 1), key=len)
    return float(GRID[run[len(run) // 2]])


def threshold_at_fpr(runs: Sequence[tuple[np.ndarray, np.ndarray]], max_fpr: float = MAX_FPR_RETRIEVED) -> float:
    """The lowest threshold whose mean out-of-fold false-positive rate is at most max_fpr
    (Neyman-Pearson: the most recall for a false-alarm budget fixed beforehand)."""
    fpr = np.array([np.mean([(s[lab == 0] >= t).mean() for s, lab in runs]) for t in GRID])
    ok = np.flatnonzero(fpr <= max_fpr)
    return float(GRID[ok[0]]) if ok.size else float(GRID[-1])


def evaluate(cv: CVResult) -> dict[str, Any]:
    """Thresholds chosen on the out-of-fold scores, and the figures at those thresholds."""
    out: dict[str, Any] = {"thresholds": {"user": {}, "retrieved": {}}, "user": {}, "retrieved": {}}
    for name, rules in (("classifier", False), ("with_rules", True)):
        u = cv.user_scores(rules)
        thr = best_threshold([(s, cv.y) for s in u])
        out["thresholds"]["user"][name] = thr
        out["user"][name] = fold_metrics(cv.y, u, cv.folds, thr)
        if cv.retrieved:
            runs = cv.retrieved_scores(rules)
            thr_r = threshold_at_fpr(runs)
            out["thresholds"]["retrieved"][name] = thr_r
            out["retrieved"][name] = repeat_metrics(runs, thr_r)
    return out


# ----------------------------------------------------------------------------- shipping


def save(scorer: Scorer, meta: dict[str, Any], npz: Path = WEIGHTS_NPZ, meta_path: Path = WEIGHTS_JSON) -> None:
    m = scorer.model
    nz = np.flatnonzero(m.w)
    npz.parent.mkdir(parents=True, exist_ok=True)
    with npz.open("wb") as fh:  # a file handle: np.savez_compressed would append ".npz" to a path
        np.savez_compressed(fh, index=nz.astype(np.int32), value=m.w[nz].astype(np.float32), bias=np.float64(m.b))
    meta = {
        **meta,
        "features": m.cfg.to_json(),
        "nonzero_weights": int(nz.size),
        "npz_sha256": hashlib.sha256(npz.read_bytes()).hexdigest(),
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="train.jsonl ({'text','label'} per line)")
    ap.add_argument("--negatives", type=Path, default=NEGATIVES, help="hand-written benign texts (JSONL)")
    ap.add_argument("--C", type=float, default=C_DEFAULT)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--split",
        choices=("stratified", "grouped"),
        default="stratified",
        help="folds for the thresholds and the CV figures: grouped keeps near duplicates in one fold (groups.py)",
    )
    ap.add_argument("--out", type=Path, default=WEIGHTS_NPZ.parent)
    args = ap.parse_args(argv)

    texts, y = load_jsonl(args.data)
    passages, questions = load_negatives(args.negatives)
    feats = Features(FeatureConfig())
    groups = near_duplicate_groups(texts) if args.split == "grouped" else None
    cv = evaluate(
        cross_validate(texts, y, feats, args.C, passages, questions, args.folds, args.repeats, SEED, groups=groups)
    )
    scorer = train(texts, y, feats, args.C, passages + questions)
    meta = {
        "model": "multiple-instance logistic regression on hashed in-word char 1-6-grams and word 1-2-grams",
        "C": args.C,
        "thresholds": cv.pop("thresholds"),
        "rule_score": RULE_SCORE,
        "cv": {"folds": args.folds, "repeats": args.repeats, "seed": SEED, "split": args.split, **cv},
        "train": {
            "path": args.data.name,
            "texts": len(texts),
            "positives": int(y.sum()),
            "sha256": hashlib.sha256(args.data.read_bytes()).hexdigest(),
            "negatives": {
                "path": args.negatives.name,
                "passages": len(passages),
                "questions": len(questions),
                "sha256": hashlib.sha256(args.negatives.read_bytes()).hexdigest(),
            },
        },
    }
    save(scorer, meta, args.out / WEIGHTS_NPZ.name, args.out / WEIGHTS_JSON.name)
    for src in ("user", "retrieved"):
        for name, m in cv[src].items():
            a = m["accuracy"]
            print(
                f"CV {args.repeats}x{args.folds} {src:9} {name:10}: accuracy {a['mean']:.4f} ± {a['sd']:.4f} "
                f"(threshold {meta['thresholds'][src][name]})",
                file=sys.stderr,
            )
    print(f"wrote {args.out / WEIGHTS_NPZ.name} and {WEIGHTS_JSON.name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
