"""The peers bench/guard.py measures the guard against, in the same run.

- Presidio as shipped, patterns only: every predefined English recognizer but SpacyRecognizer, on
  spacy.blank("en"), default threshold 0 (the issue's reference: structured precision 0.61). Its
  e-mail check is pointed at tldextract's bundled suffix list, as ours is, since the default
  fetches it over the network.
- TF-IDF + logistic regression for prompt injection, predicting at 0.5, reimplemented in numpy and
  checked against scikit-learn 1.7.2 on the same folds (out-of-fold probabilities within 4e-4,
  same accuracy): scikit-learn's defaults (word unigrams, C=1), and char_wb 2-5-grams, sublinear
  tf, C=10 (about the issue's 0.94 reference).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from tools.guard.logreg import Sparse, fit_lr
from tools.guard.ner_eval import Counts, untyped
from tools.guard.train_ner import gold_spans

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

    def __init__(
        self,
        texts: Sequence[str],
        y: np.ndarray,
        C: float = 1.0,
        analyzer=words,  # type: ignore[no-untyped-def]
        sublinear: bool = False,
    ) -> None:
        self.analyzer, self.sublinear = analyzer, sublinear
        docs = [analyzer(t) for t in texts]
        self.vocab = {w: i for i, w in enumerate(sorted({w for d in docs for w in d}))}
        df = np.zeros(len(self.vocab))
        for d in docs:
            df[[self.vocab[w] for w in set(d)]] += 1
        self.idf = np.log((1 + len(docs)) / (1 + df)) + 1.0  # smooth_idf=True
        X = Sparse.build([self._row(d) for d in docs])
        self.w, self.b = fit_lr(X, y, C, len(self.vocab))

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


def presidio_baseline(rows: list[dict[str, Any]]) -> tuple[Counts, Counts, float]:
    """Stock Presidio, patterns only: strict and overlap counts, texts per second."""
    import tldextract
    from presidio_analyzer import RecognizerRegistry

    from ragwright.guard.pii import build_analyzer

    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # type: ignore[assignment]
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"])
    registry.remove_recognizer("SpacyRecognizer")
    analyzer = build_analyzer(registry.recognizers, tuned=False)
    strict, overlap = Counts(), Counts()
    t0 = time.perf_counter()
    preds = [analyzer.analyze(text=r["text"], language="en") for r in rows]
    seconds = time.perf_counter() - t0
    for r, pred in zip(rows, preds, strict=True):
        p = [(x.start, x.end, x.entity_type) for x in pred]
        strict.add(gold_spans(r), p)
        overlap.add(gold_spans(r), p, overlap=True)
        strict.add(untyped(gold_spans(r)), untyped(p))
        overlap.add(untyped(gold_spans(r)), untyped(p), overlap=True)
    return strict, overlap, len(rows) / seconds
