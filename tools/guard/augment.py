"""Made copies of a fold's injections for the second stage (train_injection_ft --augment, an experiment).

Why: the held-out misses of issue 19 include misspelled instructions ("igmre what I said before")
and attacks appended after an ordinary question. For every injection a fold trains on, two copies:
one with character noise (a letter dropped, doubled, swapped with its neighbour or replaced by a
keyboard neighbour, in about one word in four of four letters or more), one appended after a benign
question of the same fold's training examples. Made from the fold's own examples only, the same
every run (each copy's draw is seeded by the text), so folds and rebuilds see the same texts.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence

import numpy as np

NOISE = 0.25  # share of words of four letters or more given one typo
KEYS = ("qwertzuiop", "asdfghjkl", "yxcvbnm")


def _rng(text: str, salt: str) -> random.Random:
    return random.Random(int(hashlib.sha256((salt + text).encode("utf-8")).hexdigest()[:16], 16))


def _neighbour(c: str, rng: random.Random) -> str:
    for row in KEYS:
        i = row.find(c.lower())
        if i >= 0:
            return row[max(0, min(len(row) - 1, i + rng.choice((-1, 1))))]
    return c


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    return word[:i] + _neighbour(word[i], rng) + word[i + 1 :]


def noisy(text: str) -> str:
    rng = _rng(text, "noise")
    return re.sub(r"\w{4,}", lambda m: typo(m.group(0), rng) if rng.random() < NOISE else m.group(0), text)


def appended(text: str, questions: Sequence[str]) -> str:
    rng = _rng(text, "append")
    return f"{questions[rng.randrange(len(questions))]} {text}"


def augment(ex: Sequence[str], lab: np.ndarray) -> tuple[list[str], np.ndarray]:
    """ex and lab with a noisy and an appended copy of every positive (duplicates dropped)."""
    questions = sorted({t for t, y in zip(ex, lab.tolist(), strict=True) if not y and t.endswith("?") and len(t) < 200})
    seen = set(ex)
    extra: list[str] = []
    for t, y in zip(ex, lab.tolist(), strict=True):
        if not y:
            continue
        for c in (noisy(t), appended(t, questions) if questions else t):
            if c not in seen:
                seen.add(c)
                extra.append(c)
    return [*ex, *extra], np.r_[lab, np.ones(len(extra))]
