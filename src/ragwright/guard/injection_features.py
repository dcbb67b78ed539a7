"""How the injection classifier sees a text: normalised, then hashed character n-grams and word
uni/bigrams as one sparse vector (see injection.py for why this model). Training and scoring
share these functions, and the configuration ships with the weights so that both agree."""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_PRIME = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime
_GOLD = 0x9E3779B97F4A7C15


@dataclass(frozen=True)
class FeatureConfig:
    """How texts become sparse vectors; stored with the weights so that scoring matches training."""

    char_bits: int = 18
    char_ngrams: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    word_bits: int = 18
    char_weight: float = 1.0
    word_weight: float = 1.0
    max_segment: int = 320  # sentences longer than this are cut
    char_wb: bool = True  # character n-grams inside words only (scikit-learn's "char_wb")
    min_words: int = 4  # a sentence of fewer words is joined to the next (injection.segments)

    @property
    def dim(self) -> int:
        return (1 << self.char_bits) + (1 << self.word_bits)

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "char_ngrams": list(self.char_ngrams)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FeatureConfig:
        return cls(**{**d, "char_ngrams": tuple(d["char_ngrams"])})


_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SPACED = re.compile(r"\b(?:\w ){3,}\w\b")  # "S a y t h a t" -> "Saythat"
_WS = re.compile(r"\s+")
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    """NFKC, lower case, zero-width characters removed, letter-spaced words joined, one space.

    Why: obfuscations (full-width letters, zero-width joiners, "i g n o r e") should not buy
    an attacker new n-grams the model never saw.
    """
    t = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    t = _SPACED.sub(lambda m: m.group(0).replace(" ", ""), t)
    return _WS.sub(" ", t).strip().lower()


def _fmix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads FNV's weak low bits before masking."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    out: np.ndarray = h ^ (h >> np.uint64(33))
    return out


def _char_ids(ts: Sequence[str], ngrams: Sequence[int], bits: int, wb: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Hashed character n-grams of several texts at once: (text number, feature id) per n-gram.

    Vectorised over the concatenated texts (one numpy pass, not one per text or per n-gram),
    FNV-1a then a finaliser: stable across processes, unlike Python's salted hash().
    """
    if wb:
        units = [(k, " " + w + " ") for k, t in enumerate(ts) for w in t.split(" ") if w]
    else:
        units = [(k, " " + t + " ") for k, t in enumerate(ts)]
    padded = [u for _, u in units]
    cps = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    unit = np.repeat(np.arange(len(units)), [len(p) for p in padded])
    text_of = np.array([k for k, _ in units], dtype=np.int64)
    rows, ids = [], []
    with np.errstate(over="ignore"):
        for n in ngrams:
            m = cps.size - n + 1
            if m <= 0:
                continue
            h = np.full(m, (_GOLD * n) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
            for k in range(n):
                h = (h ^ cps[k : k + m]) * _PRIME
            inside = unit[:m] == unit[n - 1 :]  # n-grams that do not straddle two texts (words)
            rows.append(text_of[unit[:m][inside]])
            ids.append(_fmix(h[inside]))
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(rows), (np.concatenate(ids) & np.uint64((1 << bits) - 1)).astype(np.int64)


def _word_ids(ts: Sequence[str], bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Hashed word unigrams and bigrams (CRC32 of the UTF-8 word, mixed) of several texts."""
    words = [_WORD.findall(t) for t in ts]
    owner = np.repeat(np.arange(len(ts)), [len(w) for w in words])
    if owner.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    h = np.array([zlib.crc32(w.encode("utf-8")) for ws in words for w in ws], dtype=np.uint64)
    pair = owner[:-1] == owner[1:]
    with np.errstate(over="ignore"):
        uni = _fmix(h + np.uint64(1))
        bi = _fmix(h[:-1][pair] * _PRIME + h[1:][pair] + np.uint64(_GOLD))
    ids = (np.concatenate([uni, bi]) & np.uint64((1 << bits) - 1)).astype(np.int64)
    return np.concatenate([owner, owner[:-1][pair]]), ids


def _block(
    rows: np.ndarray, ids: np.ndarray, n: int, dim: int, offset: int, weight: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sublinear term frequencies, L2-normalised per text within the block, then scaled."""
    keys, counts = np.unique(rows * dim + ids, return_counts=True)
    r, c = keys // dim, keys % dim
    vals = 1.0 + np.log(counts)
    norms = np.sqrt(np.bincount(r, weights=vals * vals, minlength=n))
    return r, c + offset, vals * (weight / np.maximum(norms[r], 1e-12))


def featurize_many(texts: Sequence[str], cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Several texts as one sparse matrix in COO form: (text number, column, value)."""
    ts = [normalise(t) for t in texts]
    chars = _char_ids(ts, cfg.char_ngrams, cfg.char_bits, cfg.char_wb)
    blocks = [
        _block(*chars, len(ts), 1 << cfg.char_bits, 0, cfg.char_weight),
        _block(*_word_ids(ts, cfg.word_bits), len(ts), 1 << cfg.word_bits, 1 << cfg.char_bits, cfg.word_weight),
    ]
    blocks = [b for b, w in zip(blocks, (cfg.char_weight, cfg.word_weight), strict=True) if w]
    rows, cols, vals = (np.concatenate(x) for x in zip(*blocks, strict=True))
    return rows, cols, vals


def featurize(text: str, cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """One text as (column indices, values) in the model's feature space."""
    _, cols, vals = featurize_many([text], cfg)
    return cols, vals
