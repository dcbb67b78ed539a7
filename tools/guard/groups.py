"""Groups of near-duplicate texts in the injection training set, and folds that keep each group whole.

Why: train.jsonl holds many texts that differ only by a suffix ("<benign question>" and
"<benign question> <attack>"), share an attack sentence behind different questions, or repeat
one question with a word changed. Stratified k-fold puts such siblings on both sides of a split,
so the model is scored on texts it has nearly seen, and its cross-validation figure (0.961) was
higher than a held-out split gave (0.914). Grouped k-fold scores each text with every near
duplicate of it held out too.

Two texts are linked when any of these holds; groups are the connected components:
- MiniLM sentence embeddings (all-MiniLM-L6-v2, shipped for retrieval) with cosine >= 0.8;
- TF-IDF char 3-gram vectors with cosine >= 0.5 (spelling variants, "sefsef" suffixes, cognates);
- a shared sentence of 25+ characters after lower-casing and dropping punctuation (the same attack
  appended to different questions, or the same question with different attacks);
- the same first 40 characters, normalised likewise.
Measured on the 546 texts: 340 groups, the largest 13 texts, 268 singletons. Translations
(English question, German question) stay unlinked unless they share a sentence or names:
MiniLM here is English-only (cosine 0.02 to 0.65 for translated pairs) and no multilingual
encoder from a known publisher can be had offline. For the shipped model (in-word char n-grams)
a translation shares few features with its original, so that leak is the smallest of the four.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ragwright.guard.injection import segments

_NON_WORD = re.compile(r"\W+")


@dataclass(frozen=True)
class GroupConfig:
    """Thresholds of the links above (the defaults are the measured ones)."""

    embedding_cosine: float = 0.8
    char_cosine: float = 0.5
    min_sentence: int = 25
    prefix: int = 40


def _norm(text: str) -> str:
    return _NON_WORD.sub(" ", text.lower()).strip()


def embed(texts: Sequence[str]) -> np.ndarray:
    """L2-normalised MiniLM sentence vectors (the shipped local embedder, one thread)."""
    from ragwright.models.embedding import LocalMiniLM

    return LocalMiniLM(threads=1).embed(list(texts))


def char_cosine(texts: Sequence[str]) -> np.ndarray:
    """Pairwise cosine of sublinear TF-IDF char 3-gram vectors of the normalised texts."""
    grams = [Counter(t[i : i + 3] for i in range(len(t) - 2)) for t in map(_norm, texts)]
    df = Counter(g for c in grams for g in c)
    vocab = {g: i for i, g in enumerate(df)}
    m = np.zeros((len(texts), len(vocab)), dtype=np.float32)
    for r, c in enumerate(grams):
        for g, v in c.items():
            m[r, vocab[g]] = (1.0 + np.log(v)) * np.log(len(texts) / df[g])
    m /= np.linalg.norm(m, axis=1, keepdims=True) + 1e-9
    out: np.ndarray = m @ m.T
    return out


def _components(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in edges:
        parent[find(a)] = find(b)
    roots = [find(i) for i in range(n)]
    ids = {r: k for k, r in enumerate(dict.fromkeys(roots))}
    return np.array([ids[r] for r in roots], dtype=np.int64)


def near_duplicate_groups(
    texts: Sequence[str], embeddings: np.ndarray | None = None, cfg: GroupConfig = GroupConfig()
) -> np.ndarray:
    """A group id per text: connected components of the near-duplicate links (module docstring).
    `embeddings` (L2-normalised rows) may be passed to skip the MiniLM pass; None computes them."""
    n = len(texts)
    emb = embed(texts) if embeddings is None else embeddings
    close = (emb @ emb.T >= cfg.embedding_cosine) | (char_cosine(texts) >= cfg.char_cosine)
    a, b = np.nonzero(np.triu(close, 1))
    edges = list(zip(a.tolist(), b.tolist(), strict=True))
    shared: dict[str, set[int]] = defaultdict(set)
    for i, t in enumerate(texts):
        for s in (t, *segments(t)):
            key = _norm(s)
            if len(key) >= cfg.min_sentence:
                shared["s:" + key].add(i)
        key = _norm(t)
        if len(key) >= cfg.prefix:
            shared["p:" + key[: cfg.prefix]].add(i)
    for members in shared.values():
        first, *rest = sorted(members)
        edges += [(first, j) for j in rest]
    return _components(n, edges)


def grouped_folds(y: np.ndarray, groups: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold (0..k-1) per text; every group in one fold, class counts balanced across folds.

    Greedy, as scikit-learn's StratifiedGroupKFold: groups in random order, then largest first,
    each to the fold whose per-class counts it leaves closest to the overall proportion."""
    rng = np.random.default_rng(seed)
    ids = np.unique(groups)
    rng.shuffle(ids)
    counts = {g: np.bincount(y[groups == g], minlength=2) for g in ids}
    order = sorted(ids.tolist(), key=lambda g: -int(counts[g].sum()))  # stable: shuffled within a size
    per_fold = np.zeros((k, 2))
    share = np.bincount(y, minlength=2) / len(y)
    fold_of: dict[int, int] = {}
    for g in order:
        best, best_cost = 0, np.inf
        for f in range(k):
            trial = per_fold.copy()
            trial[f] += counts[g]
            cost = float(np.std(trial[:, 0] / share[0]) + np.std(trial[:, 1] / share[1]))
            if cost < best_cost - 1e-12:
                best, best_cost = f, cost
        per_fold[best] += counts[g]
        fold_of[g] = best
    return np.array([fold_of[g] for g in groups.tolist()], dtype=np.int64)


def leaks(folds: np.ndarray, groups: np.ndarray) -> int:
    """Texts with a near duplicate (same group) in another fold: 0 for grouped folds."""
    n = 0
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        n += int(len(members) > 1 and len(set(folds[members].tolist())) > 1) * len(members)
    return n
