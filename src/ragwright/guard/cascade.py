"""Prompt-injection check as a cascade: the 0.3 ms n-gram detector first, MiniLM for what it is unsure of.

Every part of a text (the text and its sentences, see injection.text_parts) gets the first stage's
probability. Parts inside the source's unsure band go to the second stage (injection_head.py), at
most a few per text, highest first, under one deadline per text; their score becomes a blend of
both stages (a user message's, when the head records a stacker, the stacker's score from the first
stage's largest logit and both second-stage heads' largest logits over the parts sent). The text's
score is its worst part's, a rule that fires lifts it to RULE_SCORE, and it is flagged at the
cascade's threshold for its source.

Bad input and failures:
- the second stage fails to load, raises, or misses its deadline: the first stage's verdict stands
  (its own score and threshold), the verdict's `second_stage` says "skipped: why" and its reasons
  carry "second_stage_skipped". Never an exception, never a silent pass.
- a very long text is checked in overlapping windows of `window_chars` (each window with its
  sentences), and its verdict is its worst window's (`window` gives that window's offsets): the
  first stage was trained on prompts, and MiniLM reads 256 tokens.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..errors import ModelError
from .injection import RULE_SCORE, SOURCES, InjectionDetector, InjectionVerdict, LinearModel, fired_rules, text_parts
from .injection_head import Deadline, HeadConfig, PartScorer, load_head, scorer_for
from .unicode_fold import folded

WINDOW_CHARS = 2000
WINDOW_OVERLAP = 200
DEADLINE_S = 0.25
SKIPPED = "second_stage_skipped"


@dataclass(frozen=True)
class _Part:
    text: str
    window: tuple[int, int]


def windows(text: str, size: int = WINDOW_CHARS, overlap: int = WINDOW_OVERLAP) -> list[tuple[int, int]]:
    """(start, end) offsets covering the text; one window when it fits. Windows overlap so that an
    instruction cut by one boundary lies whole inside the next window."""
    if len(text) <= size:
        return [(0, len(text))]
    step = size - overlap
    return [(i, min(i + size, len(text))) for i in range(0, len(text) - overlap, step)]


class CascadeDetector:
    """Same interface as InjectionDetector (check, check_many, score, threshold), two stages.

    `second_stage` replaces the shipped MiniLM head (a PartScorer: tests pass one that fails or
    sleeps); `deadline_s` bounds the second stage per text; `thresholds` overrides the shipped
    ones, e.g. the "fewer_false_alarms" user threshold recorded in injection_head.json.
    Thread-safe; loads on first use."""

    def __init__(
        self,
        first: InjectionDetector | None = None,
        second_stage: PartScorer | None = None,
        head: HeadConfig | None = None,
        deadline_s: float = DEADLINE_S,
        window_chars: int = WINDOW_CHARS,
        thresholds: dict[str, float] | None = None,
    ) -> None:
        self.first = first or InjectionDetector()
        self._override = dict(thresholds or {})
        self._scorer, self._head = second_stage, head
        self.deadline_s, self.window_chars = deadline_s, window_chars
        self._deadline: Deadline | None = None
        self._load_error = ""
        self._lock = threading.Lock()

    def _stage2(self) -> tuple[HeadConfig | None, Deadline | None, str]:
        """The head's configuration and its deadline runner, or why there is none."""
        if self._deadline is None and not self._load_error:
            with self._lock:
                if self._deadline is None and not self._load_error:
                    try:
                        if self._head is None:
                            self._head = load_head()[0]
                        scorer = self._scorer or scorer_for(self._head)
                        scorer.warm_up()  # loading is no part of any text's deadline
                        self._deadline = Deadline(scorer, self.deadline_s)
                    except ModelError as exc:
                        self._load_error = f"unavailable: {exc}"
        return self._head, self._deadline, self._load_error

    def threshold(self, source: str = "user") -> float:
        """The cascade's threshold; the first stage's applies when the second stage is skipped."""
        if source in self._override:
            return float(self._override[source])
        head = self._stage2()[0]
        if head is None or source not in head.thresholds:
            return self.first.threshold(source)
        return head.thresholds[source]

    def score(self, text: str, source: str = "user") -> float:
        return self.check(text, source).score

    def check(self, text: str, source: str = "user") -> InjectionVerdict:
        return self.check_many([text], source)[0]

    def warm_up(self) -> None:
        """Load both stages now (else the first check does)."""
        self.first._load()
        self._stage2()

    def check_many(self, texts: Sequence[str], source: str = "user") -> list[InjectionVerdict]:
        """A text wearing a Unicode disguise (look-alike letters, invisible characters, decorated
        words: guard/unicode_fold.py) is scored as written and with the disguise taken off, and
        keeps the worse verdict: the five disguises of review 12 passed as written."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        verdicts = self._check_many(texts, source)
        plain = [folded(t)[0] for t in texts]
        changed = [i for i, (t, p) in enumerate(zip(texts, plain, strict=True)) if p != t]
        if changed:
            for i, v in zip(changed, self._check_many([plain[i] for i in changed], source), strict=True):
                if v.score > verdicts[i].score:
                    verdicts[i] = replace(v, reasons=[*v.reasons, "unicode_folded"], window=verdicts[i].window)
        return verdicts

    def _check_many(self, texts: Sequence[str], source: str) -> list[InjectionVerdict]:
        model = self.first._load()
        parts = [self._parts(t, model, source) for t in texts]
        flat = [p.text for ps in parts for p in ps]
        logits = model.flat_logits(flat)
        out, at = [], 0
        for text, ps in zip(texts, parts, strict=True):
            out.append(self._verdict(text, ps, logits[at : at + len(ps)], source))
            at += len(ps)
        return out

    def _parts(self, text: str, model: LinearModel, source: str) -> list[_Part]:
        return [
            _Part(piece, (a, b))
            for a, b in windows(text, self.window_chars)
            for piece in text_parts(text[a:b], model.cfg, source)
        ] or [_Part(text, (0, 0))]

    def _verdict(self, text: str, parts: list[_Part], logits: np.ndarray, source: str) -> InjectionVerdict:
        probs = 1.0 / (1.0 + np.exp(-logits))
        rules = fired_rules(text) if self.first.use_rules else []
        scores, stage = (probs, "not needed") if rules else self._second(text, parts, logits, probs, source)
        worst = int(np.argmax(scores))
        if stage.startswith("skipped"):  # the first stage's verdict stands, and says so
            p, thr = float(probs.max()), self.first.threshold(source)
        else:
            p, thr = float(scores[worst]), self.threshold(source)
        reasons = list(rules)
        if p >= thr:
            reasons.append("classifier")
        if stage.startswith("skipped"):
            reasons.append(SKIPPED)
        score = max(p, RULE_SCORE) if rules else p
        return InjectionVerdict(
            score=round(score, 6),
            flagged=score >= thr,
            reasons=reasons,
            second_stage=stage,
            window=parts[worst].window if len(text) > self.window_chars else None,
        )

    def _second(
        self, text: str, parts: list[_Part], logits: np.ndarray, probs: np.ndarray, source: str
    ) -> tuple[np.ndarray, str]:
        """Each part's score after the second stage, and what became of it: "used", "not needed"
        (no unsure part), or "skipped: why" (unavailable: every text says so; late or failed)."""
        head, run, why = self._stage2()
        if head is None or run is None:
            return probs, f"skipped: {why}"
        sent = head.sent(probs, source)
        stacked = bool(head.stack) and source == "user"
        cues = head.cue_inputs(text) if stacked else []
        if not sent.size:
            return (_stacked(head, logits, None, cues) if stacked else probs), "not needed"
        got, why = run([parts[i].text for i in sent])
        if got is None:
            return probs, f"skipped: {why}"
        if stacked and got.ndim == 2:
            return _stacked(head, logits, got, cues), "used"
        scores = probs.copy()
        scores[sent] = head.blend(logits[sent], got if got.ndim == 1 else got[:, 0])
        return scores, "used"


def _stacked(head: HeadConfig, logits: np.ndarray, got: np.ndarray | None, cues: list[float]) -> np.ndarray:
    """Part scores under the stacker: the text's stacked score on its highest first-stage part (the
    one a window verdict points at), zero elsewhere. `cues`: the whole text's (injection_cues)."""
    worst = int(np.argmax(logits))
    out = np.zeros(len(logits))
    if got is None:
        out[worst] = head.stacked(float(logits.max()), 0.0, 0.0, False, cues)
    else:
        out[worst] = head.stacked(float(logits.max()), float(got[:, 0].max()), float(got[:, 1].max()), True, cues)
    return out


_default: CascadeDetector | None = None


def default_cascade() -> CascadeDetector:
    """The process-wide cascade with the shipped weights (loaded on first use)."""
    global _default
    if _default is None:
        _default = CascadeDetector()
    return _default
