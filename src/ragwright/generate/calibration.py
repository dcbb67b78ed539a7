"""The refusal threshold of a workspace: how strongly this corpus's best sentences match
questions it cannot answer, plus a margin.

PROBES are everyday questions no document collection of a business is about (cooking, sport,
geography...). Each is answered (retrieval, then evidence) against the corpus; the threshold is
the 90th percentile of their best sentences' similarities plus `margin` (DEFAULT_MARGIN unless
tuned), never under FLOOR. A chunk more similar than the probes' chunks by CHUNK_MARGIN settles
an ask without embedding any sentence (refusal.py). A corpus whose text is generic pulls
everything closer and gets a higher threshold; a narrow one a lower. The calibration is kept in
the store's meta and computed again when the corpus has grown or shrunk by more than a tenth, or
the embedder changed.

`tune` moves the margin on a labelled set (`ragwright calibrate --data DIR`): the largest margin
whose wrong refusals of answerable questions stay within a budget, which refuses the most
off-topic ones. The tuned margin is kept apart from the probes, so it survives recalibration.

The probes run over the whole corpus, every tenant's documents: one number comes of them, a
threshold that moves with how generic the corpus is, which says nothing a reader could use
about documents they may not see. Everything else in a refusal is computed from the reader's
own passages (refusal.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .evidence import Evidence, chunk_similarity
from .refusal import Thresholds

VERSION = 2
META_KEY = "answer.calibration"
MARGIN_KEY = "answer.refusal_margin"
# Chosen on pgdocs-qa and the train splits of SciFact and PubMedQA (bench/refusals.py --split
# train): on pgdocs-qa the probes' p90 is 0.26, the general-knowledge off-topic questions' best
# sentences 0.25-0.33, the least similar answerable one 0.37.
DEFAULT_MARGIN = 0.09
CHUNK_MARGIN = 0.25
FLOOR = 0.2
# Never above the fixed threshold of before issue 17, which refused 2 of SciFact's 300 test claims
# and none of PubMedQA's 500 test questions: a corpus that answers some probes (a medical one
# asked about the flu: PubMedQA's p90 is 0.39) would otherwise refuse its own questions (25 of
# 500 at 0.53, 3 of 500 at 0.40). A narrow corpus, whose probes score low, gets a lower one.
CEILING = 0.35
QUANTILE = 90
REFRESH_CHANGE = 0.10  # recalibrate when the chunk count moved by more than this share

PROBES = (
    "What is the tallest mountain in Africa?",
    "Who painted the ceiling of the Sistine Chapel?",
    "How long should I boil an egg for a soft yolk?",
    "Which country won the football World Cup in 2014?",
    "What is the recommended daily intake of vitamin C for adults?",
    "How do I get a red wine stain out of a carpet?",
    "When did the Roman Empire fall?",
    "What is the population of Canada?",
    "How many players are on a basketball team on the court?",
    "What is the best time of year to visit Japan?",
    "How do I change a flat tire on a bicycle?",
    "Who discovered penicillin?",
    "What is the boiling point of water at the top of Mount Everest?",
    "How much should I tip a waiter in Italy?",
    "What are the symptoms of the flu?",
    "Which planet has the most moons?",
    "How do I train a puppy to stop biting?",
    "What is the plot of Hamlet?",
    "How do I make a sourdough starter from scratch?",
    "What is the exchange rate between the euro and the yen?",
    "Who was the first person to walk on the moon?",
    "How do I file my income tax return?",
    "What language is spoken in Quebec?",
    "How many calories are in a banana?",
    "What causes the northern lights?",
    "How do I repot an orchid?",
    "Which team has won the most Stanley Cups?",
    "What is the speed of sound in air?",
    "How do I knit a scarf for beginners?",
    "What is the difference between a crocodile and an alligator?",
    "How many bones are in the human body?",
    "Where is the Great Barrier Reef?",
    "How do I apply for a passport?",
    "What year did the Berlin Wall come down?",
    "What ingredients go into a classic margherita pizza?",
    "How often should I water a cactus?",
    "Who composed the Four Seasons?",
    "What is the deepest lake in the world?",
    "How do I lower my cholesterol naturally?",
    "What is the offside rule in soccer?",
)


@dataclass(slots=True)
class Calibration:
    probe_quantile: float  # the QUANTILE-th percentile of the probes' best similarities
    probe_max: float
    chunk_quantile: float  # the same percentile of the probes' best chunk similarities
    chunks: int  # corpus size it was computed at
    embedder: str
    margin: float = DEFAULT_MARGIN
    tuned: bool = False  # the margin was tuned on a labelled set: no CEILING then
    version: int = VERSION

    @property
    def threshold(self) -> float:
        threshold = max(FLOOR, self.probe_quantile + self.margin)
        return threshold if self.tuned else min(CEILING, threshold)

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(self.threshold, self.chunk_quantile + CHUNK_MARGIN)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> Calibration | None:
        try:
            data = json.loads(text or "")
            return cls(**data) if data.get("version") == VERSION else None
        except (ValueError, TypeError):
            return None

    def stale(self, chunks: int, embedder: str) -> bool:
        return embedder != self.embedder or abs(chunks - self.chunks) > REFRESH_CHANGE * max(self.chunks, 1)


def best_similarity(evidence: Sequence[Evidence]) -> float:
    sims = [e.similarity for e in evidence if e.similarity is not None]
    return max(sims) if sims else -1.0


def calibrate(
    evidence_of: Callable[[str], Sequence[Evidence]], chunks: int, embedder: str, margin: float | None = None
) -> Calibration:
    """`evidence_of(question)`: the evidence an ask would gather for it, its best sentences embedded."""
    evidence = [evidence_of(p) for p in PROBES]
    scores = np.array([best_similarity(e) for e in evidence], dtype=np.float64)
    chunk = np.array([chunk_similarity(e) for e in evidence], dtype=np.float64)
    return Calibration(
        round(float(np.percentile(scores, QUANTILE)), 4),
        round(float(scores.max()), 4),
        round(float(np.percentile(chunk, QUANTILE)), 4),
        chunks,
        embedder,
        DEFAULT_MARGIN if margin is None else margin,
        margin is not None,
    )


@dataclass(slots=True)
class Labelled:
    """One labelled question's outcome with refusal by similarity left out: its best similarity,
    and whether the other checks (names no passage mentions) refused it anyway."""

    answerable: bool
    similarity: float
    refused_otherwise: bool
    sure: bool = False  # a chunk was similar enough to answer whatever the sentences' similarity


def tune(cases: Sequence[Labelled], base: float, max_wrong: float = 0.05, step: float = 0.005) -> dict[str, float]:
    """The margin over `base` (the probes' quantile) that refuses the most off-topic cases while
    wrongly refusing at most `max_wrong` of the answerable ones; among equals, the one in the
    middle of the widest gap (the least sensitive to a new question)."""
    answerable = [c for c in cases if c.answerable]
    off = [c for c in cases if not c.answerable]
    if not answerable or not off:
        raise ValueError("calibration needs both answerable and off-topic questions")
    rows = []
    for margin in np.arange(-0.2, 0.4 + 1e-9, step):
        threshold = max(FLOOR, base + margin)
        wrong = sum(_refused(c, threshold) for c in answerable) / len(answerable)
        right = sum(_refused(c, threshold) for c in off) / len(off)
        rows.append((round(float(margin), 4), right, wrong))
    allowed = [r for r in rows if r[2] <= max_wrong] or [min(rows, key=lambda r: r[2])]
    top = max(r[1] for r in allowed)
    best = [r for r in allowed if r[1] == top]
    margin, right, wrong = best[len(best) // 2]
    return {
        "margin": margin,
        "threshold": round(max(FLOOR, base + margin), 4),
        "off_topic_refused": right,
        "answerable_refused": wrong,
        "answerable": len(answerable),
        "off_topic": len(off),
    }


def _refused(case: Labelled, threshold: float) -> bool:
    return case.refused_otherwise or (not case.sure and case.similarity < threshold)
