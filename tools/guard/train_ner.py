"""Train the name tagger on the PII dev set, and measure the detector on templates it has not seen.

    python -m tools.guard.train_ner --data ../shared/data/pii/dev.jsonl [--cv 5]

Writes src/ragwright/guard/data/ner_weights.npz and ner_meta.json, trained on every dev template plus
the synthetic sentences of tools/guard/data/ner_synthetic.jsonl (see ner_synth.py); that is what ships.
Sentences of one template are near-duplicates (same words, other names), so a random split would
measure memory: every figure here comes from template-grouped folds, where the tagger is
trained on some templates and scored on the others. The bench and the tests use the same helpers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragwright.guard.minilm import WordVectors
from ragwright.guard.ner import (
    DATA_DIR,
    FEATURE_VERSION,
    META_FILE,
    NER_LABELS,
    WEIGHTS_FILE,
    Encoded,
    NameTagger,
    Token,
    tokenize,
)
from ragwright.guard.pii import DATASET_LABELS, STRUCTURED, PiiDetector

from .ner_synth import SYNTHETIC, load_synthetic

NAMES: tuple[str, ...] = ("PERSON", "ORGANIZATION", "LOCATION")
# Held-out name recall (strict / words) by dropout, 12 epochs, with the synthetic sentences:
# 0.05: 0.819 / 0.857, 0.15: 0.826 / 0.859, 0.3: 0.817 / 0.849, 0.45: 0.814 / 0.850 (0.3 was best
# before there were synthetic sentences; with their variety less is needed).
DROPOUT = 0.15

Span = tuple[int, int, str]


def load_rows(path: Path) -> list[dict[str, Any]]:
    """The dev set: {"text", "spans": [{"start", "end", "label"}], "template_id", "id"} per line."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def gold_spans(row: dict[str, Any], labels: Iterable[str] | None = None) -> list[Span]:
    """A row's spans with the data set's labels mapped to Presidio's (GPE -> LOCATION ...)."""
    keep = set(labels) if labels is not None else None
    out = [(s["start"], s["end"], DATASET_LABELS.get(s["label"], s["label"])) for s in row["spans"]]
    return [s for s in out if keep is None or s[2] in keep]


def template_folds(rows: Sequence[dict[str, Any]], k: int = 5, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """(train indices, test indices) for k folds; every template's rows fall in one test fold."""
    templates = sorted({r["template_id"] for r in rows})
    random.Random(seed).shuffle(templates)
    folds = []
    for i in range(k):
        held = set(templates[i::k])
        folds.append(
            (
                [j for j, r in enumerate(rows) if r["template_id"] not in held],
                [j for j, r in enumerate(rows) if r["template_id"] in held],
            )
        )
    return folds


def spans_to_bio(tokens: Sequence[Token], spans: Iterable[Span]) -> list[str]:
    """Gold character spans to one BIO tag per token (tokens inside a span take its label)."""
    tags = ["O"] * len(tokens)
    for start, end, label in spans:
        inside = [i for i, t in enumerate(tokens) if t.start >= start and t.end <= end]
        for k, i in enumerate(inside):
            tags[i] = ("B-" if k == 0 else "I-") + label
    return tags


def country_names(languages: Sequence[str] = ("en", "de", "fr", "es", "it", "nl")) -> frozenset[str]:
    """Country and territory names in these languages, from phonenumbers' locale data (a run-time
    dependency already; its import takes seconds, so the list is computed here and shipped in the
    tagger's JSON), lower case, tokenised as the tagger does."""
    from phonenumbers.geodata.locale import LOCALE_DATA

    names = {v for names in LOCALE_DATA.values() for k, v in names.items() if k in (*languages, "aa")}
    return frozenset(" ".join(t.text.lower() for t in tokenize(v)) for v in names if v and not v.startswith("*"))


def new_tagger(vectors: WordVectors | None = None) -> NameTagger:
    """An untrained tagger with the country gazetteer set."""
    tagger = NameTagger(vectors=vectors)
    tagger.countries = country_names()
    return tagger


def encode(tagger: NameTagger, examples: Sequence[tuple[str, Sequence[Span]]]) -> list[Encoded]:
    """Training examples, computed once and reusable across folds: (features, gold tags, vectors)."""
    inputs = tagger.inputs([text for text, _ in examples])
    return [
        (hashed, [tagger.tags.index(t) for t in spans_to_bio(tokens, spans)], vectors, breaks)
        for (tokens, hashed, vectors, breaks), (_, spans) in zip(inputs, examples, strict=True)
    ]


def train(
    examples: Sequence[tuple[str, Sequence[Span]]],
    epochs: int = 12,
    dropout: float = DROPOUT,
    seed: int = 0,
    runs: int = 5,
) -> NameTagger:
    """A new tagger fitted on (text, [(start, end, label)]) pairs (other labels dropped first)."""
    tagger = new_tagger()
    return fit(tagger, encode(tagger, examples), epochs, dropout, seed, runs)


def fit(
    tagger: NameTagger,
    data: Sequence[Encoded],
    epochs: int = 12,
    dropout: float = DROPOUT,
    seed: int = 0,
    runs: int = 5,
) -> NameTagger:
    """Set the tagger's weights from encoded examples: the mean of `runs` averaged structured
    perceptrons, each with its own example order and feature dropout (one run's held-out name
    recall moves by +-2 points with the order; the mean of five is steadier and about 2 points
    better).

    dropout: each feature is left out of an update with this probability, so that the tagger
    cannot lean on one context word of a template (held-out name recall +1 to 2 points).
    """
    fitted = [_perceptron(tagger, data, epochs, dropout, seed + i) for i in range(runs)]
    hashes = sorted(set().union(*(rows for rows, _, _, _ in fitted)))
    tagger.rows = {h: i for i, h in enumerate(hashes)}
    tagger.weights = np.zeros((len(hashes), len(tagger.tags)), dtype=np.float32)
    for rows, weights, _, _ in fitted:
        tagger.weights[[tagger.rows[h] for h in rows]] += weights[list(rows.values())] / runs
    tagger.dense = (sum((d for _, _, d, _ in fitted), np.zeros_like(tagger.dense)) / runs).astype(np.float32)
    tagger.trans = (sum((t for _, _, _, t in fitted), np.zeros_like(tagger.trans)) / runs).astype(np.float32)
    return tagger


def _perceptron(
    tagger: NameTagger, data: Sequence[Encoded], epochs: int, dropout: float, seed: int
) -> tuple[dict[int, int], np.ndarray, np.ndarray, np.ndarray]:
    data = [x for x in data if x[1]]
    index: dict[int, int] = {}
    for hashed, _, _, _ in data:
        for token_hashes in hashed:
            for h in token_hashes:
                index.setdefault(h, len(index))
    ids = [
        ([np.fromiter((index[h] for h in f), dtype=np.int64) for f in hashed], gold, vec, breaks)
        for hashed, gold, vec, breaks in data
    ]
    t = len(tagger.tags)
    w, w_acc = np.zeros((len(index), t)), np.zeros((len(index), t))
    d, d_acc = np.zeros((WordVectors.DIM, t)), np.zeros((WordVectors.DIM, t))
    tr, tr_acc = np.zeros((t + 1, t)), np.zeros((t + 1, t))
    step, rng, nrng = 1, random.Random(seed), np.random.default_rng(seed)
    order = list(range(len(ids)))
    for _ in range(epochs):
        rng.shuffle(order)
        for k in order:
            feats, gold, vec, breaks = ids[k]
            if dropout > 0:
                feats = [f[nrng.random(len(f)) >= dropout] for f in feats]
            em = (np.stack([w[f].sum(axis=0) for f in feats]) + vec @ d).astype(np.float32)
            pred = tagger._viterbi(em, tr.astype(np.float32), breaks)
            if pred == gold:
                step += 1
                continue
            prev_g = prev_p = t
            for i, (f, g, p) in enumerate(zip(feats, gold, pred, strict=True)):
                if g != p:
                    for col, sign in ((g, 1.0), (p, -1.0)):
                        np.add.at(w[:, col], f, sign)
                        np.add.at(w_acc[:, col], f, sign * step)
                        d[:, col] += sign * vec[i]
                        d_acc[:, col] += sign * step * vec[i]
                tr[prev_g, g] += 1.0
                tr[prev_p, p] -= 1.0
                tr_acc[prev_g, g] += step
                tr_acc[prev_p, p] -= step
                prev_g, prev_p = g, p
            step += 1
    avg = w - w_acc / step
    keep = np.abs(avg).max(axis=1) > 1e-3
    hashes = np.fromiter(index.keys(), dtype=np.int64)[keep]
    return (
        {int(h): i for i, h in enumerate(hashes)},
        avg[keep].astype(np.float32),
        (d - d_acc / step).astype(np.float32),
        (tr - tr_acc / step).astype(np.float32),
    )


def save(tagger: NameTagger, folder: Path = DATA_DIR, meta: dict[str, object] | None = None) -> None:
    """npz (feature hashes, weights, dense weights, transitions) + JSON (labels, provenance): no pickle."""
    folder.mkdir(parents=True, exist_ok=True)
    hashes = np.fromiter(tagger.rows.keys(), dtype=np.int64, count=len(tagger.rows))
    order = np.fromiter(tagger.rows.values(), dtype=np.int64, count=len(tagger.rows))
    np.savez_compressed(
        folder / WEIGHTS_FILE,
        hashes=hashes,
        weights=tagger.weights[order].astype(np.float16),
        dense=tagger.dense,
        trans=tagger.trans,
    )
    info = {
        "labels": list(tagger.labels),
        "tags": tagger.tags,
        "feature_version": FEATURE_VERSION,
        "vector_layer": WordVectors.LAYER,
        "features": len(tagger.rows),
        **(meta or {}),
        "countries": sorted(tagger.countries),
    }
    (folder / META_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@dataclass
class Counts:
    """True/false positives and false negatives per label, exact span and label."""

    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)

    def add(self, gold: Iterable[Span], pred: Iterable[Span], overlap: bool = False) -> None:
        """Score one text. overlap=True counts a hit when spans of the same label merely overlap
        (what matters for redaction); the default asks for exact boundaries."""
        g, p = set(gold), set(pred)

        def hit(x: Span, pool: set[Span]) -> bool:
            if not overlap:
                return x in pool
            return any(y[2] == x[2] and y[0] < x[1] and x[0] < y[1] for y in pool)

        for x in g:
            (self.tp if hit(x, p) else self.fn)[x[2]] += 1
        for x in p:
            if not hit(x, g):
                self.fp[x[2]] += 1

    def prf(self, labels: Iterable[str]) -> dict[str, float | int]:
        """Micro-averaged precision, recall, F1 and support over the given labels."""
        labels = list(labels)
        tp = sum(self.tp[x] for x in labels)
        fp = sum(self.fp[x] for x in labels)
        fn = sum(self.fn[x] for x in labels)
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        return {
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4),
            "support": tp + fn,
            "predicted": tp + fp,
        }


def token_labels(text: str, spans: Iterable[Span]) -> list[str]:
    """One label per word ("O" outside every span), the unit presidio-research's TokenEvaluator
    scores: a name half found counts half. Punctuation tokens are left out."""
    words = [t for t in tokenize(text) if t.text[0].isalnum()]
    out = ["O"] * len(words)
    for a, b, label in spans:
        for i, t in enumerate(words):
            if t.start >= a and t.end <= b and out[i] == "O":
                out[i] = label
    return out


def add_tokens(counts: Counts, gold: Sequence[str], pred: Sequence[str]) -> None:
    """Token-level counts: a word is a hit when its predicted label is its gold label; "ANY" also
    counts every word of a gold name given any label at all, that is, redacted."""
    for g, p in zip(gold, pred, strict=True):
        if g != "O" and g == p:
            counts.tp[g] += 1
        else:
            if g != "O":
                counts.fn[g] += 1
            if p != "O":
                counts.fp[p] += 1
        if g in NAMES:
            (counts.tp if p != "O" else counts.fn)["ANY"] += 1


def places_in_addresses(gold: Sequence[Span], pred: Iterable[Span]) -> int:
    """Found places that overlap no gold place but lie inside a gold STREET_ADDRESS: the town and
    country lines that the detector reports as LOCATION (see ner.split_address) where the data set
    marks the whole address as one span. They count as false names in every precision figure;
    this number says how many of those there are."""
    return sum(
        1
        for a, b, lab in pred
        if lab == "LOCATION"
        and not any(g[2] == lab and g[0] < b and a < g[1] for g in gold)
        and any(g[2] == "STREET_ADDRESS" and g[0] <= a and b <= g[1] for g in gold)
    )


def untyped(spans: Iterable[Span], labels: Iterable[str] = NAMES, as_label: str = "NAME") -> list[Span]:
    """Names with their type erased: is a name found at all, whatever type it was given?"""
    keep = set(labels)
    return [(a, b, as_label) for a, b, lab in spans if lab in keep]


@dataclass
class CrossValidation:
    """Held-out-template figures: strict (exact span and label), overlap and token counts, speed."""

    strict: Counts
    overlap: Counts
    tokens: Counts
    texts: int
    seconds: float
    folds: int
    #: LOCATION findings inside a gold STREET_ADDRESS and no gold place (see `places_in_addresses`).
    places_in_addresses: int = 0

    @classmethod
    def pooled(cls, runs: Sequence[CrossValidation]) -> CrossValidation:
        """Counts of several runs (other fold seeds) added up: which templates share a fold moves
        held-out name recall by a few points, so one split's figure is not the tagger's."""
        out = cls(Counts(), Counts(), Counts(), 0, 0.0, runs[0].folds)
        for run in runs:
            for mine, theirs in ((out.strict, run.strict), (out.overlap, run.overlap), (out.tokens, run.tokens)):
                mine.tp.update(theirs.tp)
                mine.fp.update(theirs.fp)
                mine.fn.update(theirs.fn)
            out.texts, out.seconds = out.texts + run.texts, out.seconds + run.seconds
            out.places_in_addresses += run.places_in_addresses
        return out

    def table(self, labels: Sequence[str]) -> dict[str, dict[str, float | int]]:
        out = {lab: self.strict.prf([lab]) for lab in labels}
        out["structured (micro)"] = self.strict.prf(STRUCTURED)
        out["names (micro)"] = self.strict.prf(NAMES)
        out["NAME (untyped)"] = self.strict.prf(["NAME"])
        return out


def crossvalidate(
    rows: Sequence[dict[str, Any]],
    k: int = 5,
    seed: int = 0,
    epochs: int = 12,
    runs: int = 5,
    detector: PiiDetector | None = None,
    log: Any = None,
    extra: Sequence[tuple[str, Sequence[Span]]] | None = None,
) -> CrossValidation:
    """Train the tagger on k-1 folds of templates (plus `extra` sentences, by default the shipped
    synthetic ones, never scored), scan the held-out texts with the whole detector (patterns +
    tagger + overlap resolution), and add up the counts over the folds."""
    detector = detector or PiiDetector()
    detector.names = True
    encoder = new_tagger(WordVectors(cache=True))  # held-out texts reuse their vectors
    encoded = encode(encoder, [(r["text"], gold_spans(r, NER_LABELS)) for r in rows])
    extra = load_synthetic() if extra is None else extra
    added = encode(encoder, [(text, [s for s in spans if s[2] in NER_LABELS]) for text, spans in extra])
    strict, overlap, words = Counts(), Counts(), Counts()
    seconds, texts, in_addresses = 0.0, 0, 0
    for n, (train, test) in enumerate(template_folds(rows, k, seed)):
        detector.tagger = fit(
            new_tagger(encoder.vectors), [encoded[i] for i in train] + added, epochs, seed=seed, runs=runs
        )
        detector.warm_up()
        for i in test:
            t0 = time.perf_counter()
            found = detector.scan(rows[i]["text"])
            seconds += time.perf_counter() - t0
            pred = [(s.start, s.end, s.label) for s in found]
            gold = gold_spans(rows[i])
            strict.add(gold, pred)
            overlap.add(gold, pred, overlap=True)
            strict.add(untyped(gold), untyped(pred))
            overlap.add(untyped(gold), untyped(pred), overlap=True)
            add_tokens(words, token_labels(rows[i]["text"], gold), token_labels(rows[i]["text"], pred))
            in_addresses += places_in_addresses(gold, pred)
        texts += len(test)
        if log:
            log(f"fold {n + 1}/{k}: {len(train)} training texts, {len(test)} held out")
    return CrossValidation(strict, overlap, words, texts, seconds, k, in_addresses)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train the PII name tagger (ships in ragwright/guard/data/).")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/pii/dev.jsonl"))
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--runs", type=int, default=5, help="perceptrons averaged (different example orders)")
    ap.add_argument("--cv", type=int, default=0, help="also report K-fold template-grouped figures first")
    args = ap.parse_args(argv)
    if not args.data.is_file():
        print(f"train_ner: {args.data} not found (the PII dev set, ../shared/data/pii/dev.jsonl)", file=sys.stderr)
        return 2
    rows = load_rows(args.data)
    if args.cv:
        cv = crossvalidate(rows, k=args.cv, epochs=args.epochs, runs=args.runs, log=lambda m: print(m, file=sys.stderr))
        print(json.dumps(cv.table([*STRUCTURED, *NAMES, "STREET_ADDRESS"]), indent=2), file=sys.stderr)
    t0 = time.perf_counter()
    synthetic = load_synthetic()
    tagger = train(
        [(r["text"], gold_spans(r, NER_LABELS)) for r in rows] + synthetic, epochs=args.epochs, runs=args.runs
    )
    digest = hashlib.sha256(args.data.read_bytes()).hexdigest()
    save(
        tagger,
        args.out,
        meta={
            "trained_on": {
                "file": args.data.name,
                "sha256": digest,
                "texts": len(rows),
                "templates": len({r["template_id"] for r in rows}),
            },
            "synthetic": {
                "file": SYNTHETIC.name,
                "sha256": hashlib.sha256(SYNTHETIC.read_bytes()).hexdigest(),
                "texts": len(synthetic),
            },
            "epochs": args.epochs,
            "runs": args.runs,
            "dropout": DROPOUT,
            "label_map": DATASET_LABELS,
            "note": "averaged structured perceptron; weights keyed by blake2b-64 feature hashes",
        },
    )
    print(
        f"trained on {len(rows)} texts in {time.perf_counter() - t0:.1f} s; {len(tagger.rows)} features -> {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
