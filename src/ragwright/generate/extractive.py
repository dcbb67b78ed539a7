"""The answer with no model: the retrieved sentences that best answer the question, each cited."""

from __future__ import annotations

from typing import Sequence

from ..types import Answer
from .citations import CitationBook, cite
from .evidence import Evidence


def extractive_answer(question: str, evidence: Sequence[Evidence], *, threshold: float, max_sentences: int,
                      margin: float = 0.12) -> Answer:
    best = evidence[0] if evidence else None
    if best is None or strongest(evidence).similarity < threshold:
        return abstention(question, strongest(evidence) if evidence else None, threshold)
    chosen: list[Evidence] = []
    for item in evidence:
        if len(chosen) >= max_sentences:
            break
        if item.similarity >= threshold and item.score >= best.score - margin:
            chosen.append(item)
    book = CitationBook()
    sentences = [cite(e.sentence, [book.number(e.result, e.similarity)]) for e in chosen]
    return Answer(question=question, answer=" ".join(sentences), abstained=False, citations=book.citations,
                  mode="extractive")


def strongest(evidence: Sequence[Evidence]) -> Evidence:
    """The sentence most similar to the question: what decides whether there is evidence at all."""
    return max(evidence, key=lambda e: e.similarity)


def abstention(question: str, best: Evidence | None, threshold: float) -> Answer:
    if best is None:
        reason = "no indexed passage matches the question"
    else:
        reason = (f"the closest passage ({best.result.location}) is not similar enough to the question "
                  f"({best.similarity:.2f} < {threshold:.2f})")
    return Answer(question=question, answer=f"I could not find an answer in the documents: {reason}.",
                  abstained=True, reason=reason)
