"""How good and how fast is the prompt-injection detector? Cross-validated on the training set,
against a TF-IDF + logistic-regression peer on the same folds, plus indirect injection in
retrieved passages and the cost of one check.

    python bench/guard_injection.py [--data ../shared/data] [--repeats 5] [--folds 5]

- Direct (the user's message): repeated stratified k-fold on injection/train.jsonl, the same
  folds for every system. Peers: TF-IDF + logistic regression, predicting at 0.5, reimplemented
  in numpy and checked against scikit-learn 1.7.2 on the same folds (out-of-fold probabilities
  within 4e-4, same accuracy): scikit-learn's defaults (word unigrams, C=1), and char_wb
  2-5-grams, sublinear tf, C=10 (about the issue's 0.94 reference). The detector's threshold is
  chosen on the same out-of-fold scores, so its figures carry a small optimistic bias that the
  peers' fixed 0.5 does not: `threshold_at_0.5` shows every system at 0.5.
- Indirect (a retrieved chunk): (a) the hand-written benign passages of
  guard/data/injection_negatives.jsonl held out by fold, clean and with a held-out injection
  inserted at a random sentence boundary; (b) SciFact abstracts, which no model here was trained
  or tuned on, clean and with each fold's held-out injections inserted, scored by that fold's
  model; PubMedQA contexts clean. (b) is a check, never used to choose anything.
- Rules: hits and precision on the training set (written with sight of it: in-sample) and hits
  on 6,483 benign SciFact/PubMedQA texts.
- Cost: single-check latency p50/p99 (user messages: every training text once; retrieved:
  SciFact abstracts cut to 1,200 characters, about one 240-token chunk) and batch texts/s.

Prints a table to stderr and one JSON object to stdout.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA, MachineLoad, emit, environment, load_jsonl, percentiles_ms, say, table  # noqa: E402

from ragwright.guard import train_injection as T  # noqa: E402
from ragwright.guard.injection import RULE_NAMES, FeatureConfig, InjectionDetector, fired_rules  # noqa: E402

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern


_WHITE = re.compile(r"\s\s+")


def words(text: str) -> list[str]:
    """TfidfVectorizer()'s analyzer: lower case, tokens of 2+ word characters."""
    return _TOKEN.findall(text.lower())


def char_wb(text: str, lo: int = 2, hi: int = 5) -> list[str]:
    """TfidfVectorizer(analyzer="char_wb", ngram_range=(lo, hi))'s analyzer, as scikit-learn codes it."""
    grams = []
    for w in _WHITE.sub(" ", text.lower()).split():
        w = " " + w + " "
        for n in range(lo, hi + 1):
            offset = 0
            grams.append(w[offset : offset + n])
            while offset + n < len(w):
                offset += 1
                grams.append(w[offset : offset + n])
            if offset == 0:
                break
    return grams


class TfidfLR:
    """TfidfVectorizer + LogisticRegression in numpy, checked against scikit-learn 1.7.2 (the peers)."""

    def __init__(self, texts: Sequence[str], y: np.ndarray, C: float = 1.0, analyzer=words,  # type: ignore[no-untyped-def]
                 sublinear: bool = False) -> None:
        self.analyzer, self.sublinear = analyzer, sublinear
        docs = [analyzer(t) for t in texts]
        self.vocab = {w: i for i, w in enumerate(sorted({w for d in docs for w in d}))}
        df = np.zeros(len(self.vocab))
        for d in docs:
            df[[self.vocab[w] for w in set(d)]] += 1
        self.idf = np.log((1 + len(docs)) / (1 + df)) + 1.0  # smooth_idf=True
        X = T.Sparse.build([self._row(d) for d in docs])
        self.w, self.b = T.fit_lr(X, y, C, len(self.vocab))

    def _row(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(self.vocab[w] for w in words if w in self.vocab)
        idx = np.array(sorted(counts), dtype=np.int64)
        tf = np.array([counts[i] for i in idx], dtype=np.float64)
        vals = (1.0 + np.log(tf) if self.sublinear else tf) * self.idf[idx]
        return idx, vals / max(float(np.sqrt(vals @ vals)), 1e-12)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        z = np.array([float(v @ self.w[i]) + self.b for i, v in (self._row(self.analyzer(t)) for t in texts)])
        return 1.0 / (1.0 + np.exp(-z))


PEERS = {  # name -> TfidfLR arguments
    "tfidf_lr words (sklearn defaults)": {},
    "tfidf_lr char_wb 2-5, sublinear, C=10": {"analyzer": char_wb, "sublinear": True, "C": 10.0},
}


def fmt(m: dict[str, dict[str, float]], key: str) -> str:
    return f"{m[key]['mean']:.3f} ± {m[key]['sd']:.3f}"


def latency(fn, texts: Sequence[str], rounds: int = 1) -> dict[str, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(rounds):
        for t in texts:
            t0 = time.perf_counter()
            fn(t)
            samples.append(time.perf_counter() - t0)
    return percentiles_ms(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=T.SEED, help="fold seed (the training script's is the default)")
    ap.add_argument("--abstracts", type=int, default=500, help="SciFact abstracts for the indirect check")
    args = ap.parse_args()
    load = MachineLoad()
    path = args.data / "injection" / "train.jsonl"
    if not path.is_file():
        sys.exit(f"bench: {path} not found; point --data at the folder holding injection/train.jsonl")
    texts, y = T.load_jsonl(path)
    passages, questions = T.load_negatives()
    scifact = load_jsonl(args.data / "scifact" / "corpus.jsonl", args.abstracts)
    abstracts = [(d["title"] + ". " + d["text"])[:1200] for d in scifact]
    pubmed = [d["text"][:1200] for d in load_jsonl(args.data / "pubmedqa" / "corpus.jsonl", args.abstracts)]
    seeds = [args.seed + r for r in range(args.repeats)]

    # --- the peers, on the same folds
    t0 = time.perf_counter()
    peers = {name: np.empty((args.repeats, len(texts))) for name in PEERS}
    assign = np.empty((args.repeats, len(texts)), dtype=np.int64)
    for r, seed in enumerate(seeds):
        fold = assign[r] = T.stratified_folds(y, args.folds, seed)
        for f in range(args.folds):
            tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            for name, kw in PEERS.items():
                peers[name][r, te] = TfidfLR([texts[i] for i in tr], y[tr], **kw)([texts[i] for i in te])
    peer_s = time.perf_counter() - t0

    # --- the detector, with SciFact abstracts carrying each fold's held-out injections
    sci_inj: list[list[float]] = [[] for _ in seeds]
    sci_inj_rules: list[list[float]] = [[] for _ in seeds]
    rng = np.random.default_rng(args.seed)
    state = {"r": 0, "f": 0}

    def on_fold(scorer: T.Scorer, te: np.ndarray) -> None:
        attacks = [texts[i] for i in te if y[i] == 1]
        hosts = rng.integers(0, len(abstracts), len(attacks))
        chunks = [T.inject(abstracts[h], a, rng) for h, a in zip(hosts, attacks)]
        p = scorer(chunks, "retrieved")
        sci_inj[state["r"]].extend(p.tolist())
        sci_inj_rules[state["r"]].extend(T.with_rules(p, chunks).tolist())
        state["f"] += 1
        if state["f"] == args.folds:
            state["r"], state["f"] = state["r"] + 1, 0

    t0 = time.perf_counter()
    feats = T.Features(FeatureConfig())
    cv = T.cross_validate(texts, y, feats, T.C_DEFAULT, passages, questions, args.folds, args.repeats, args.seed, on_fold)
    ev = T.evaluate(cv)
    det_s = time.perf_counter() - t0

    rows, result = [], {}
    for name, scores, thr in (*((n, s, 0.5) for n, s in peers.items()),
                              ("detector, no rules", cv.user_scores(False), ev["thresholds"]["user"]["classifier"]),
                              ("detector + rules", cv.user_scores(True), ev["thresholds"]["user"]["with_rules"])):
        m = T.fold_metrics(y, scores, assign, thr)
        m05 = T.fold_metrics(y, scores, assign, 0.5)
        rows.append([name, thr, fmt(m, "accuracy"), fmt(m, "precision"), fmt(m, "recall"), fmt(m, "f1"),
                     f"{m05['accuracy']['mean']:.3f}"])
        result[name] = {"threshold": thr, **m, "threshold_at_0.5": m05}
    say(f"Direct injection, {args.repeats}x{args.folds}-fold stratified CV on {len(texts)} texts "
        f"({int(y.sum())} injections); mean ± sd over {args.repeats * args.folds} folds")
    say(table(rows, ["system", "threshold", "accuracy", "precision", "recall", "F1", "accuracy@0.5"]))

    # --- indirect
    shipped = InjectionDetector()
    thr_r = {k: ev["thresholds"]["retrieved"][k] for k in ("classifier", "with_rules")}
    clean = {"scifact": shipped._load().scores(abstracts, "retrieved"), "pubmedqa": shipped._load().scores(pubmed, "retrieved")}
    ind_rows, indirect = [], {}
    for name, key, rules in (("no rules", "classifier", False), ("+ rules", "with_rules", True)):
        m = ev["retrieved"][key]
        inj = np.concatenate([np.array(v) for v in (sci_inj_rules if rules else sci_inj)])
        fpr = {k: float(((T.with_rules(v, abstracts if k == "scifact" else pubmed) if rules else v) >= thr_r[key]).mean())
               for k, v in clean.items()}
        rec = float((inj >= thr_r[key]).mean())
        ind_rows.append([name, thr_r[key], fmt(m, "recall"), fmt(m, "false_positive_rate"), f"{rec:.3f}",
                         f"{fpr['scifact']:.3f}", f"{fpr['pubmedqa']:.3f}"])
        indirect[key] = {"threshold": thr_r[key], "handwritten_passages": m, "scifact_injected_recall": rec,
                         "scifact_injected_n": int(inj.size), "clean_false_positive_rate": fpr}
    say(f"\nIndirect injection (source='retrieved'): held-out hand-written passages ({len(passages)}), and "
        f"{len(abstracts)} SciFact / {len(pubmed)} PubMedQA passages never trained on")
    say(table(ind_rows, ["detector", "threshold", "recall (hand-written)", "FPR (hand-written)",
                         "recall (SciFact+injection)", "FPR SciFact", "FPR PubMedQA"]))

    # --- rules
    benign_pool = [d["text"] for d in load_jsonl(args.data / "scifact" / "corpus.jsonl")] + \
                  [d["text"] for d in load_jsonl(args.data / "pubmedqa" / "corpus.jsonl")] + \
                  [d["text"] for d in load_jsonl(args.data / "scifact" / "queries.jsonl")]
    hits = Counter(r for t, lab in zip(texts, y) for r in fired_rules(t) if lab == 1)
    false_hits = Counter(r for t, lab in zip(texts, y) for r in fired_rules(t) if lab == 0)
    pool_hits = Counter(r for t in benign_pool for r in fired_rules(t))
    any_pos = sum(1 for t, lab in zip(texts, y) if lab == 1 and fired_rules(t))
    rule_rows = [[n, hits[n], false_hits[n], pool_hits[n]] for n in RULE_NAMES]
    say(f"\nRules (in-sample on train: written with sight of it); any rule fires on {any_pos}/{int(y.sum())} injections")
    say(table(rule_rows, ["rule", "injections hit", "benign train hit", f"benign SciFact/PubMedQA hit (of {len(benign_pool)})"]))

    # --- cost
    shipped.check("warm up")
    user_lat = latency(shipped.check, texts, rounds=3)
    ret_lat = latency(lambda t: shipped.check(t, "retrieved"), abstracts)
    t0 = time.perf_counter()
    shipped.check_many(texts * 4)
    batch_tps = 4 * len(texts) / (time.perf_counter() - t0)
    peer_model = TfidfLR(texts, y, **PEERS["tfidf_lr char_wb 2-5, sublinear, C=10"])
    peer_lat = latency(lambda t: peer_model([t]), texts, rounds=3)
    say(f"\nCost per check (one text at a time, {len(texts)} user texts x3; {len(abstracts)} chunks of <= 1,200 chars)")
    say(table([["detector, user message", user_lat["p50"], user_lat["p99"], round(1000 / user_lat["mean"])],
               ["detector, retrieved chunk", ret_lat["p50"], ret_lat["p99"], round(1000 / ret_lat["mean"])],
               ["tfidf_lr char_wb peer, user message", peer_lat["p50"], peer_lat["p99"], round(1000 / peer_lat["mean"])]],
              ["", "p50 ms", "p99 ms", "texts/s"]))
    say(f"batch check_many: {batch_tps:,.0f} texts/s; CV time: peer {peer_s:.1f} s, detector {det_s:.1f} s")
    ok = result["detector + rules"]["accuracy"]["mean"] >= 0.97 and user_lat["p99"] <= 5.0
    say(f"target accuracy >= 0.97 at <= 5 ms: {'met' if ok else 'NOT met'}")

    emit({"benchmark": "guard_injection", "environment": environment(), "machine_load": load.report(),
          "cv": {"folds": args.folds, "repeats": args.repeats, "seed": args.seed, "texts": len(texts),
                 "injections": int(y.sum())},
          "direct": result, "indirect": indirect,
          "rules": {"injections_hit": dict(hits), "benign_train_hit": dict(false_hits), "benign_pool_hit": dict(pool_hits),
                    "benign_pool_size": len(benign_pool), "any_rule_on_injections": any_pos},
          "latency_ms": {"user": user_lat, "retrieved": ret_lat, "peer_user": peer_lat},
          "batch_texts_per_s": round(batch_tps), "target_met": ok})


if __name__ == "__main__":
    main()
