"""Sentence-level evidence: which sentences of the retrieved chunks answer the question, and
how strongly. Both answerers use it: the extractive one to answer, the generative one to decide
whether to abstain and to attach a source to a sentence the model left uncited.

A sentence is scored by the question's content terms it or its heading holds (weighted by how
rare each is among the retrieved sentences) and by its chunk's similarity to the question, which
retrieval already computed. Embedding sentences is what made an ask slow (418 ms of a 427 ms
ask), and on pgdocs-qa it chose no better: 28 of 60 correct from terms and chunk similarity
alone, 26-30 with 2 to 10 sentences embedded. Sentences are embedded only when refusing is in
doubt (refusal.py), and then read in their place: "heading: sentence", since "The default is
one second." says nothing without "deadlock_timeout (integer)".
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from ..ingest.chunking import split_sentences
from ..models.embedding import Embedder, current_recall_scope
from ..types import SearchResult
from .question import Question, analyzer, read_question

PHRASE_WEIGHT = 0.3  # of the share of the question's neighbouring term pairs a sentence writes together
FOCUS_WEIGHT = 0.5  # for a sentence naming what a "which"/"what" question asks for (Question.focus)
LEXICAL_WEIGHT = 1.0  # of the IDF-weighted share of the question's terms
SETTING_WEIGHT = 0.5  # of a term only the question's opening sentences hold (Question.setting): 39 -> 40 of 60
CHUNK_WEIGHT = 2.0  # of the chunk's cosine to the question (from dense retrieval)
SENTENCE_WEIGHT = 0.5  # of the sentence's own cosine, where it was embedded
UNEMBEDDED = 0.2  # the sentence cosine assumed for a sentence not embedded
RANK_STEP = 0.06  # choosing which sentences to embed, earlier chunks first by this much per rank
EMBEDDED = 4  # sentences embedded when refusing is in doubt
EMBEDDED_WORDS = 40


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
        own = self.similarity if self.similarity is not None else UNEMBEDDED
        return LEXICAL_WEIGHT * self.lexical + CHUNK_WEIGHT * (self.result.dense_score or 0.0) + SENTENCE_WEIGHT * own

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
            for i, vector in zip(missing, fresh, strict=True):
                known[i] = vector
                if len(_recent) >= _RECENT_SENTENCES:
                    _recent.pop(next(iter(_recent)))
                _recent[keys[i]] = vector
    return np.vstack([v for v in known if v is not None]).astype(np.float32, copy=False)


def gather(question: str | Question, results: Sequence[SearchResult]) -> list[Evidence]:
    """Every distinct sentence of the given chunks in reading order (chunk by chunk), scored
    lexically and by its chunk; none embedded yet (see embed)."""
    q = question if isinstance(question, Question) else read_question(question)
    items = _sentences(results)
    _score_lexically(q, items)
    for e in items:
        e.expected = q.expects(e.sentence)
    return items


def embed(evidence: Sequence[Evidence], query_vector: np.ndarray, embedder: Embedder, n: int = EMBEDDED) -> None:
    """Give the `n` lexically best prose sentences their similarity to the question."""
    prose = [e for e in evidence if not e.is_code and e.similarity is None]  # code is read through its lead-in
    chosen = sorted(prose, key=lambda e: -(e.lexical - RANK_STEP * e.rank))[:n]
    if chosen:
        sims = _sentence_vectors(embedder, [_embedded_text(e) for e in chosen]) @ np.asarray(query_vector, np.float32)
        for e, sim in zip(chosen, sims, strict=True):
            e.similarity = float(sim)


def chunk_similarity(evidence: Sequence[Evidence]) -> float:
    """The best cosine of a context chunk to the question, as dense retrieval measured it."""
    return max((e.result.dense_score or 0.0 for e in evidence), default=0.0)


def _embedded_text(e: Evidence) -> str:
    """'heading: sentence', cut at EMBEDDED_WORDS words: a batch is padded to its longest text,
    and the model's cost grows with it."""
    words = e.sentence.split()
    text = " ".join(words[:EMBEDDED_WORDS])
    head = heading_of(e.result)
    return f"{head}: {text}" if head else text


def strongest(evidence: Sequence[Evidence]) -> Evidence:
    """The embedded sentence most similar to the question: what decides whether there is evidence at all."""
    embedded = [e for e in evidence if e.similarity is not None] or list(evidence)
    return max(embedded, key=lambda e: e.similarity if e.similarity is not None else -1.0)


def _sentences(results: Sequence[SearchResult]) -> list[Evidence]:
    seen: set[str] = set()
    items: list[Evidence] = []
    for rank, result in enumerate(results):
        for index, sentence in enumerate(rejoin(split_sentences(result.text))):
            key = " ".join(sentence.lower().split())
            if len(key) < 12 or key in seen:  # overlapping chunks repeat sentences
                continue
            seen.add(key)
            items.append(Evidence(sentence, result, rank, index, 0.0))
    return items


def rejoin(sentences: list[str], most: int = 3) -> list[str]:
    """Sentences a splitter cut inside a parenthesis made whole again: "When row security is
    enabled (with ALTER TABLE .." + "ENABLE ROW LEVEL SECURITY), all access ..." is one sentence,
    and neither half says anything alone. At most `most` pieces are joined."""
    out: list[str] = []
    pending: list[str] = []
    for sentence in sentences:
        pending.append(sentence)
        text = " ".join(pending)
        if sentence.startswith("```") or not _open_parenthesis(pending) or len(pending) >= most:
            if len(pending) > 1 and any(p.startswith("```") for p in pending):
                out.extend(pending)  # a code block is never part of a sentence
            else:
                out.append(text)
            pending = []
    if pending:
        out.extend(pending)
    return out


def _open_parenthesis(pieces: list[str]) -> bool:
    """Whether a parenthesis opened in the pieces is still open. A piece that starts with one is
    a parenthesised sentence, whose closing mark the splitter may have dropped: "(See below.)"."""
    depth = 0
    for piece in pieces:
        body = piece[1:] if piece.startswith("(") else piece
        depth = max(depth + body.count("(") - body.count(")"), 0)
    return depth > 0


def _score_lexically(q: Question, items: list[Evidence]) -> None:
    """BM25's idf over the retrieved sentences themselves: a question term every sentence holds
    tells them apart no better than one none holds. Local statistics only: a score never depends
    on text outside what this reader was given."""
    if not q.terms:
        return
    wanted = set(q.terms)
    heads: dict[str, set[str]] = {}
    terms = []
    words = [analyzer().terms(e.sentence) for e in items]
    for e, own in zip(items, words, strict=True):
        head = heads.setdefault(e.result.chunk_id, set(analyzer().terms(heading_of(e.result))) & wanted)
        terms.append((set(own) & wanted) | head)
    n = len(items)
    df = Counter(t for ts in terms for t in ts)
    setting = set(q.setting)
    weight = {
        t: math.log1p((n - df[t] + 0.5) / (df[t] + 0.5)) * (SETTING_WEIGHT if t in setting else 1.0) for t in q.terms
    }
    total = sum(weight.values()) or 1.0
    pairs = _pairs(analyzer().terms(q.text), wanted)
    # A question whose thing has a shape ("Which setting ...?": listen_addresses) is answered by
    # writing one (Question.expects), not by the word: "can only be set at server start" is no
    # setting. 42 -> 43 of 60 on pgdocs-qa.
    focus = set() if q.shape is not None else _pairs(q.focus, set(q.focus)) or {(t, t) for t in q.focus}
    for e, ts, own in zip(items, terms, words, strict=True):
        e.lexical = sum(weight[t] for t in ts) / total
        if pairs:
            e.lexical += PHRASE_WEIGHT * len(pairs & _pairs(own, wanted)) / len(pairs)
        if focus and focus <= (_pairs(own, set(q.focus)) | {(t, t) for t in own}):
            e.lexical += FOCUS_WEIGHT


def _pairs(terms: list[str], wanted: set[str]) -> set[tuple[str, str]]:
    """Neighbouring content terms: "output format", "statistics target". A sentence that writes
    the question's words together says what the question says more surely than one that holds
    them apart."""
    return {(a, b) for a, b in pairwise(terms) if a in wanted and b in wanted and a != b}
