"""The fine-tuned second stage's fold logits as its trainer saved them, read without torch.

Why its own module: train_injection_ft.py trains (torch); bench/guard.py, injection_nested and
injection_frontier only read what a training run kept, one file per settings string, keyed by
(repeat, fold, part), so they score the very folds the trainer made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import train_injection_head as H

CACHE_DIR = Path.home() / ".cache" / "ragwright"


def fold_logits_file(made_with: str) -> Path:
    """Where a training run with settings `made_with` keeps its fold logits (one file per
    settings, so runs of other settings do not overwrite the shipped one's)."""
    digest = hashlib.sha256(made_with.encode("utf-8")).hexdigest()[:12]
    return CACHE_DIR / f"injection_ft_oof-{digest}.npz"


def key(fold: tuple[int, int], part: str) -> str:
    return f"{fold[0]}/{fold[1]}/" + hashlib.sha256(part.encode("utf-8")).hexdigest()[:24]


def cached_fit(made_with: str) -> H.Fit:
    """The folds' fine-tuned logits as saved by the training run with settings `made_with` (the
    shipped JSON records them), for bench/guard.py without torch."""
    path = fold_logits_file(made_with)
    if not path.is_file():
        raise SystemExit(f"{path}: no fold logits for {made_with!r}; run tools/guard/train_injection_ft.py")
    with np.load(path, allow_pickle=False) as z:
        if str(z["settings"]) != made_with:
            raise SystemExit(f"{path}: made with {z['settings']}, not {made_with}; rerun the trainer")
        table = dict(zip(z["keys"].tolist(), z["logits"].tolist(), strict=True))

    def fit(ex: list[str], lab: np.ndarray, fold: tuple[int, int]) -> Callable[[Sequence[str]], np.ndarray]:
        def score(parts: Sequence[str]) -> np.ndarray:
            try:
                return np.array([table[key(fold, p)] for p in parts])
            except KeyError:
                raise SystemExit(f"{path}: no logits for fold {fold}; run the trainer with more --repeats") from None

        return score

    return fit


def averaged_fit(made_with: Sequence[str]) -> H.Fit:
    """The folds' logits of several training runs (seeds of one recipe), averaged per part: the
    seed ensemble that tools/guard/EXPERIMENTS.md measures (no torch)."""
    fits = [cached_fit(s) for s in made_with]

    def fit(ex: list[str], lab: np.ndarray, fold: tuple[int, int]) -> Callable[[Sequence[str]], np.ndarray]:
        scorers = [f(ex, lab, fold) for f in fits]
        return lambda parts: np.mean([score(parts) for score in scorers], axis=0)

    return fit
