"""Sentence-level evidence: which sentences of the retrieved chunks answer the question, and
how strongly. Both answerers use it: the extractive one to answer, the generative one to decide
whether to abstain and to attach a source to a sentence the model left uncited.

A sentence is read in its place: "The default is one second." says nothing until it is read
under its heading ("deadlock_timeout (integer)"), so what is embedded is "heading: sentence".
Every sentence is scored lexically first (the question's content terms it or its heading holds,
weighted by how rare each is among the retrieved sentences); only the `embed` best are embedded
(most of an ask's time was embedding every sentence of the context: 418 ms of a 427 ms ask). On
pgdocs-qa, embedding the 10 lexically best lost nothing against embedding all of them (31 vs 30
of 60 correct) and the contextual text beat the bare sentence (30 vs 28).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..ingest.chunking import split_sentences
from ..models.embedding import Embedder, current_recall_scope
from ..types import SearchResult
from .question import Question, analyzer, read_question

LEXICAL_WEIGHT = 0.4  # of the IDF-weighted share of question terms, beside a cosine
RANK_STEP = 0.02  # lexical pre-ranking prefers earlier chunks by this much per rank
EMBEDDED = 4  # sentences embedded per ask


@dataclass(slots=True)
class Evidence:
    sentence: str
    result: SearchResult
    rank: int  # position of its chunk in the retrieval
    index: int  # position of the sentence in its chunk
    lexical: float  # IDF-weighted share of the question's content terms it (or its heading) holds
    similarity: float | None = None  # cosine of "heading: sentence" to the question; None: not embedded
    expected: float = 0.0  # Question.expects: does it carry an answer of the kind asked for

    @property
    def relevance(self) -> float:
        return (self.similarity if self.similarity is not None else -1.0) + LEXICAL_WEIGHT * self.lexical

    @property
    def is_code(self) -> bool:
        return self.sentence.startswith("```")


def heading_of(result: SearchResult) -> str:
    return result.heading_path[-1] if result.heading_path else result.title


_RECENT_SENTENCES = 20_000  # ~30 MB of vectors: the sentences of a few thousand recently cited chunks
_recent: dict[tuple[str, str, bytes], np.ndarray] = {}
_recent_lock = threading.Lock()


def _sentence_vectors(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Vectors, embedding only texts not seen lately in this recall scope (one reader's asks must
    not speed up, and so reveal, another's; see models.embedding.recall_scope). Keyed by a digest,
    so the cache holds no text (a deleted document's sentences are not kept readable in memory)."""
    scope = current_recall_scope()
    keys = [(embedder.name, scope, hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest()) for t in texts]
    with _recent_lock:
        known = [_recent.get(k) for k in keys]
    missing = [i for i, v in enumerate(known) if v is None]
    if missing:
        fresh = embedder.embed([texts[i] for i in missing])
        with _recent_lock:
            for i, vector in zip(missing, fresh):
                known[i] = vector
                if len(_recent) >= _RECENT_SENTENCES:
                    _recent.pop(next(iter(_recent)))
                _recent[keys[i]] = vector
    return np.vstack(known).astype(np.float32, copy=False)


def gather(question: str | Question, query_vector: np.ndarray, results: Sequence[SearchResult], embedder: Embedder,
           embed: int = EMBEDDED) -> list[Evidence]:
    """Every distinct sentence of the given chunks in reading order (chunk by chunk), scored
    against the question; the `embed` lexically best carry a similarity."""
    q = question if isinstance(question, Question) else read_question(question)
    items = _sentences(results)
    if not items:
        return []
    _score_lexically(q, items)
    chosen = sorted(items, key=lambda e: -(e.lexical - RANK_STEP * e.rank))[:embed]
    if chosen:
        texts = [f"{heading_of(e.result)}: {e.sentence}" if heading_of(e.result) else e.sentence for e in chosen]
        sims = _sentence_vectors(embedder, texts) @ np.asarray(query_vector, dtype=np.float32)
        for e, sim in zip(chosen, sims):
            e.similarity = float(sim)
    for e in items:
        e.expected = q.expects(e.sentence)
    return items


def strongest(evidence: Sequence[Evidence]) -> Evidence:
    """The embedded sentence most similar to the question: what decides whether there is evidence at all."""
    embedded = [e for e in evidence if e.similarity is not None] or list(evidence)
    return max(embedded, key=lambda e: e.similarity if e.similarity is not None else -1.0)


def _sentences(results: Sequence[SearchResult]) -> list[Evidence]:
    seen: set[str] = set()
    items: list[Evidence] = []
    for rank, result in enumerate(results):
        for index, sentence in enumerate(split_sentences(result.text)):
            key = " ".join(sentence.lower().split())
            if len(key) < 12 or key in seen:  # overlapping chunks repeat sentences
                continue
            seen.add(key)
            items.append(Evidence(sentence, result, rank, index, 0.0))
    return items


def _score_lexically(q: Question, items: list[Evidence]) -> None:
    """BM25's idf over the retrieved sentences themselves: a question term every sentence holds
    tells them apart no better than one none holds. Local statistics only: a score never depends
    on text outside what this reader was given."""
    if not q.terms:
        return
    wanted = set(q.terms)
    heads: dict[str, set[str]] = {}
    terms = []
    for e in items:
        head = heads.setdefault(e.result.chunk_id, set(analyzer().terms(heading_of(e.result))) & wanted)
        terms.append((set(analyzer().terms(e.sentence)) & wanted) | head)
    n = len(items)
    df = Counter(t for ts in terms for t in ts)
    weight = {t: math.log1p((n - df[t] + 0.5) / (df[t] + 0.5)) for t in q.terms}
    total = sum(weight.values()) or 1.0
    for e, ts in zip(items, terms):
        e.lexical = sum(weight[t] for t in ts) / total
