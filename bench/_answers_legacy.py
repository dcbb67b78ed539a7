"""The extractive answerer as it was before issue 17 (commit 9fd816a), frozen here so that
bench/answers_realdocs.py can run "today's pipeline" beside the new one on the same index in
one run: every sentence of the top chunks embedded, ranked by cosine plus 0.1 x word overlap,
the sentences within 0.12 of the best kept (at most max_sentences), refused below a fixed
cosine of 0.35. Only the answer stage is frozen; retrieval and ingestion are the current code's."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragwright.generate.citations import CitationBook, cite
from ragwright.ingest.chunking import split_sentences
from ragwright.types import Answer, SearchResult

THRESHOLD, MAX_SENTENCES, MARGIN = 0.35, 3, 0.12
_WORD = re.compile(r"\w+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "do",
        "does",
        "for",
        "from",
        "how",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
    ],
)


@dataclass(slots=True)
class _Evidence:
    sentence: str
    result: SearchResult
    rank: int
    similarity: float
    overlap: float

    @property
    def score(self) -> float:
        return self.similarity + 0.1 * self.overlap


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _gather(question: str, query_vector: np.ndarray, results: Sequence[SearchResult], embedder) -> list[_Evidence]:
    seen: set[str] = set()
    items = []
    for rank, result in enumerate(results):
        for sentence in split_sentences(result.text):
            key = " ".join(sentence.lower().split())
            if len(key) < 12 or key in seen:
                continue
            seen.add(key)
            items.append((sentence, result, rank))
    if not items:
        return []
    sims = embedder.embed([s for s, _, _ in items]) @ np.asarray(query_vector, dtype=np.float32)
    q = _words(question)
    out = [
        _Evidence(s, r, k, float(sim), len(q & _words(s)) / len(q) if q else 0.0)
        for (s, r, k), sim in zip(items, sims, strict=True)
    ]
    out.sort(key=lambda e: (-e.score, e.rank))
    return out


def legacy_answer(question: str, results: Sequence[SearchResult], query_vector: np.ndarray, embedder) -> Answer:
    evidence = _gather(question, query_vector, results, embedder)
    if not evidence or max(e.similarity for e in evidence) < THRESHOLD:
        return Answer(question=question, answer="I could not find an answer in the documents.", abstained=True)
    best = evidence[0]
    chosen = [e for e in evidence if e.similarity >= THRESHOLD and e.score >= best.score - MARGIN][:MAX_SENTENCES]
    book = CitationBook()
    text = " ".join(cite(e.sentence, [book.number(e.result, e.similarity)]) for e in chosen)
    return Answer(question=question, answer=text, abstained=False, citations=book.citations, mode="extractive")
