"""Train the name tagger on the PII dev set, and measure the detector on templates it has not seen.

    python -m tools.guard.train_ner --data ../shared/data/pii/dev.jsonl [--cv 5]

Writes src/ragwright/guard/data/ner_weights.npz and ner_meta.json, trained on every dev template plus
the synthetic sentences of tools/guard/data/ner_synthetic.jsonl (see ner_synth.py); that is what ships.
Sentences of one template are near-duplicates (same words, other names), so a random split would
measure memory: every figure --cv reports comes from template-grouped folds, where the tagger is
trained on some templates and scored on the others (ner_eval.py, which the bench and the tests use too).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections.abc import Iterable, Sequence
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
from ragwright.guard.pii import DATASET_LABELS, STRUCTURED

from .ner_synth import SYNTHETIC, load_synthetic

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
        from .ner_eval import NAMES, crossvalidate  # here, not at the top: ner_eval builds on this module

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
