"""Whether a passage supports a sentence, offline: the share of the sentence's stemmed content
words that the passage contains. The evaluator's faithfulness measure uses it without a judge,
and generated answers are held to it before they reach the user, so what is shipped is what is
measured."""

from __future__ import annotations

import functools

from ..analysis import Analyzer

SUPPORT_CONTAINMENT = 0.75  # a sentence whose content words are three quarters in the passage


@functools.cache
def _analyzer() -> Analyzer:
    return Analyzer()


def contained(sentence: str, passage: str) -> float:
    """Share of the sentence's stemmed content words that occur in the passage (1.0 when it has none)."""
    words = set(_analyzer().terms(sentence))
    return len(words & set(_analyzer().terms(passage))) / len(words) if words else 1.0


def supports(passage: str, sentence: str) -> bool:
    return contained(sentence, passage) >= SUPPORT_CONTAINMENT
