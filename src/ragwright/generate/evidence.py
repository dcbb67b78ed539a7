"""Sentence-level evidence: which sentences of the retrieved chunks answer the question, and
how strongly. Both answerers use it: the extractive one to answer, the generative one to decide
whether to abstain and to attach a source to a sentence the model left uncited."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..ingest.chunking import split_sentences
from ..models.embedding import Embedder, current_recall_scope
from ..types import SearchResult

_WORD = re.compile(r"\w+")
_STOP = frozenset("a an and are as at be by do does for from how in is it of on or the to was what when where which "
                  "who why with".split())


@dataclass(slots=True)
class Evidence:
    sentence: str
    result: SearchResult
    rank: int  # position of its chunk in the retrieval
    similarity: float  # cosine to the question
    overlap: float  # share of the question's content words it contains

    @property
    def score(self) -> float:
        return self.similarity + 0.1 * self.overlap


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


_RECENT_SENTENCES = 20_000  # ~30 MB of vectors: the sentences of a few thousand recently cited chunks
_recent: dict[tuple[str, bytes], np.ndarray] = {}
_recent_lock = threading.Lock()


def _sentence_vectors(embedder: Embedder, sentences: list[str]) -> np.ndarray:
    """Sentence vectors, embedding only those not seen lately: popular chunks come back again and
    again, and embedding their sentences was most of an ask's time. Keyed by a digest, so the
    cache holds no text (a deleted document's sentences are not kept readable in memory)."""
    scope = current_recall_scope()  # a hit is faster: one reader's asks must not show in another's timing
    keys = [(f"{embedder.name}\0{scope}", hashlib.blake2b(s.encode("utf-8"), digest_size=16).digest())
            for s in sentences]
    with _recent_lock:
        known = [_recent.get(k) for k in keys]
    missing = [i for i, v in enumerate(known) if v is None]
    if missing:
        fresh = embedder.embed([sentences[i] for i in missing])
        with _recent_lock:
            for i, vector in zip(missing, fresh):
                known[i] = vector
                if len(_recent) >= _RECENT_SENTENCES:
                    _recent.pop(next(iter(_recent)))
                _recent[keys[i]] = vector
    return np.vstack(known).astype(np.float32, copy=False)


def gather(question: str, query_vector: np.ndarray, results: Sequence[SearchResult], embedder: Embedder,
           ) -> list[Evidence]:
    """Every distinct sentence of the given chunks, scored against the question, best first."""
    seen: set[str] = set()
    items: list[tuple[str, SearchResult, int]] = []
    for rank, result in enumerate(results):
        for sentence in split_sentences(result.text):
            key = " ".join(sentence.lower().split())
            if len(key) < 12 or key in seen:  # overlapping chunks repeat sentences
                continue
            seen.add(key)
            items.append((sentence, result, rank))
    if not items:
        return []
    vectors = _sentence_vectors(embedder, [s for s, _, _ in items])
    sims = vectors @ np.asarray(query_vector, dtype=np.float32)
    q_words = content_words(question)
    evidence = []
    for (sentence, result, rank), sim in zip(items, sims):
        overlap = len(q_words & content_words(sentence)) / len(q_words) if q_words else 0.0
        evidence.append(Evidence(sentence, result, rank, float(sim), overlap))
    evidence.sort(key=lambda e: (-e.score, e.rank))
    return evidence
