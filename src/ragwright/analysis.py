"""Text analysis shared across layers: Lucene EnglishAnalyzer-like terms (lower case, possessive
's removed, Lucene's English stop words, Porter stemming). BM25 indexes with it; evaluation and
the semantic cache compare texts with it."""

from __future__ import annotations

import re
from collections import Counter

LUCENE_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


SHORT_TEXT = 400  # characters: a sentence, a question; their terms are kept whole
SHORT_TEXTS = 20_000


class Analyzer:
    """Text -> index terms. Stemming is cached per word: corpora repeat their words a lot. Short
    texts are cached whole: an answer re-reads the sentences of passages other asks retrieved
    too (40 pgdocs asks: 73 texts an ask, 17% of an ask's CPU, 2.4 ms, went to analysing them)."""

    def __init__(self) -> None:
        import Stemmer

        self._stem = Stemmer.Stemmer("porter").stemWord
        self._cache: dict[str, str] = {}
        self._texts: dict[str, tuple[str, ...]] = {}

    def terms(self, text: str) -> list[str]:
        if len(text) > SHORT_TEXT:
            return self._terms(text)
        known = self._texts.get(text)
        if known is None:
            if len(self._texts) >= SHORT_TEXTS:
                self._texts.clear()
            known = self._texts[text] = tuple(self._terms(text))
        return list(known)

    def _terms(self, text: str) -> list[str]:
        out = []
        cache = self._cache
        for word in _TOKEN.findall(text.lower()):
            if word.endswith("'s"):
                word = word[:-2]
            if word in LUCENE_STOPWORDS:
                continue
            stem = cache.get(word)
            if stem is None:
                stem = cache[word] = self._stem(word)
                if len(cache) > 500_000:
                    cache.clear()
            out.append(stem)
        return out

    def counts(self, text: str) -> Counter[str]:
        return Counter(self.terms(text))
