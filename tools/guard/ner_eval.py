"""How well the PII detector finds names on templates it was not trained on: the scoring and the
template-grouped cross-validation that train_ner's --cv, bench/guard.py and the tests report.

Kept apart from train_ner.py, which fits and writes the shipped tagger: training needs none of
this, and the figures are computed one way wherever they are read. Sentences of one template are
near-duplicates (same words, other names), so a random split would measure memory; every fold
here holds out whole templates, and the whole detector (patterns + tagger + overlap resolution)
scans the held-out texts.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ragwright.guard.minilm import WordVectors
from ragwright.guard.ner import NER_LABELS, tokenize
from ragwright.guard.pii import STRUCTURED, PiiDetector

from .ner_synth import load_synthetic
from .train_ner import Span, encode, fit, gold_spans, new_tagger

NAMES: tuple[str, ...] = ("PERSON", "ORGANIZATION", "LOCATION")


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
