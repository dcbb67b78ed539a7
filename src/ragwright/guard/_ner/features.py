"""What the name tagger reads of each token: hand-made features (word shape, affixes,
capitalisation, neighbouring words, line position, a country gazetteer), hashed to 64 bits so that
the shipped weights hold no text of the training data. The same code serves training
(tools/guard/train_ner.py) and tagging, so the two cannot drift apart."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

_TOKEN = re.compile(r"\w+|[^\w\s]")
# A small closed-class word list (function words), not a name list: a capitalised "The" or "My"
# at the start of a sentence is no name, and the tagger cannot learn that from shape alone.
FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "nor",
        "of",
        "in",
        "on",
        "at",
        "to",
        "from",
        "by",
        "for",
        "with",
        "about",
        "as",
        "into",
        "over",
        "under",
        "after",
        "before",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "will",
        "would",
        "can",
        "could",
        "shall",
        "should",
        "may",
        "might",
        "must",
        "i",
        "me",
        "my",
        "mine",
        "you",
        "your",
        "yours",
        "he",
        "him",
        "his",
        "she",
        "her",
        "hers",
        "it",
        "its",
        "we",
        "us",
        "our",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "who",
        "whom",
        "whose",
        "which",
        "what",
        "where",
        "when",
        "why",
        "how",
        "not",
        "no",
        "yes",
        "so",
        "if",
        "then",
        "than",
        "there",
        "here",
        "all",
        "any",
        "each",
        "every",
        "some",
        "such",
        "very",
        "just",
        "also",
        "only",
        "please",
        "hello",
        "hi",
        "dear",
        "thanks",
        "ok",
    ]
)


@dataclass(frozen=True)
class Token:
    """A word or punctuation mark with its character offsets in the text."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Words and single punctuation marks: every gold span boundary of the PII set falls on these."""
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def shape(word: str, run: int = 2) -> str:
    """Xxxx-style shape: upper X, lower x, digit d, others as is; runs cut to `run` characters."""
    out: list[str] = []
    for ch in word:
        c = "X" if ch.isupper() else "x" if ch.isalpha() else "d" if ch.isdigit() else ch
        if len(out) < run or out[-run:] != [c] * run:
            out.append(c)
    return "".join(out)


def feature_hash(feature: str) -> int:
    """A feature's row key in the weights: 63 bits of blake2b, so the files hold no feature text."""
    return int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little") >> 1


@dataclass(frozen=True)
class _Text:
    """One text's tokens and what every token's features look up about the others, computed once."""

    text: str
    tokens: Sequence[Token]
    pieces: Sequence[int]

    @cached_property
    def lows(self) -> list[str]:
        return [t.text.lower() for t in self.tokens]

    @cached_property
    def shapes(self) -> list[str]:
        return [shape(t.text, 1) for t in self.tokens]

    @cached_property
    def capitalised(self) -> set[str]:
        return {t.text.lower() for t in self.tokens if t.text[:1].isupper()}

    @cached_property
    def all_lower(self) -> bool:
        return not any(ch.isupper() for ch in self.text)

    def word(self, i: int) -> str:
        """The lower-cased word at i, or a sentinel before the start and after the end."""
        return self.lows[i] if 0 <= i < len(self.tokens) else ("<s>" if i < 0 else "</s>")

    def shp(self, i: int) -> str:
        """The short shape at i, with the same sentinels as word()."""
        return self.shapes[i] if 0 <= i < len(self.tokens) else ("<s>" if i < 0 else "</s>")

    def wp(self, i: int) -> str:
        """How many word pieces the token takes, 4 standing for 4 or more."""
        return str(min(self.pieces[i], 4))

    def break_between(self, a: int, b: int) -> bool:
        """Whether a line break separates token a from token b (a < b)."""
        return "\n" in self.text[self.tokens[a].end : self.tokens[b].start]


def token_features(
    text: str, tokens: Sequence[Token], pieces: Sequence[int], countries: frozenset[str] = frozenset()
) -> list[list[str]]:
    """Feature strings for each token; the same function serves training and tagging.

    pieces: how many word pieces of MiniLM's (uncased, 30k) vocabulary each token takes; a rare
    word (a foreign surname, a made-up company) takes several, a common word one.
    countries: country names (lower case, tokens joined by spaces) marked where they occur.
    The order of the strings is kept as trained: the scores sum the rows in this order.
    """
    s = _Text(text, tokens, pieces)
    gazetteer = _marks(s.lows, countries, "country")
    feats: list[list[str]] = []
    for i in range(len(tokens)):
        f = _word_features(s, i) + _flags(s, i)
        if i > 0:
            f.append("wp-1|wp=" + s.wp(i - 1) + "|" + s.wp(i))
        feats.append(f + gazetteer[i])
    return feats


def _word_features(s: _Text, i: int) -> list[str]:
    """The token itself (word, shape, affixes, length, word pieces) and its neighbours two either side."""
    w, low, wp, sh = s.tokens[i].text, s.lows[i], s.wp(i), s.shapes[i]
    return [
        "b",
        "w=" + low,
        "sh=" + shape(w),
        "ss=" + sh,
        "p1=" + low[:1],
        "p2=" + low[:2],
        "p3=" + low[:3],
        "s1=" + low[-1:],
        "s2=" + low[-2:],
        "s3=" + low[-3:],
        "s4=" + low[-4:],
        "len=" + str(min(len(w), 10)),
        "w-1=" + s.word(i - 1),
        "w+1=" + s.word(i + 1),
        "w-2=" + s.word(i - 2),
        "w+2=" + s.word(i + 2),
        "sh-1=" + s.shp(i - 1),
        "sh+1=" + s.shp(i + 1),
        "sh-2=" + s.shp(i - 2),
        "sh+2=" + s.shp(i + 2),
        "sh-1|sh=" + s.shp(i - 1) + "|" + sh,
        "sh|sh+1=" + sh + "|" + s.shp(i + 1),
        "w-1|sh=" + s.word(i - 1) + "|" + sh,
        "sh|w+1=" + sh + "|" + s.word(i + 1),
        "w-2|w-1=" + s.word(i - 2) + "|" + s.word(i - 1),
        "wp=" + wp,
        "wp|ss=" + wp + "|" + sh,
        "wp|fw=" + wp + "|" + str(int(low in FUNCTION_WORDS)),
    ]


def _flags(s: _Text, i: int) -> list[str]:
    """Yes/no features of the token's place and case (line start or end, capitalised mid-sentence,
    repeated, all capitals, a colon or apostrophe right after it), named only when true."""
    tok, low, n = s.tokens[i], s.lows[i], len(s.tokens)
    w = tok.text
    line_start = i == 0 or s.break_between(i - 1, i)
    flags = {
        "line_start": line_start,
        "line_end": i == n - 1 or s.break_between(i, i + 1),
        "first": i == 0,
        "function_word": low in FUNCTION_WORDS,
        "non_ascii": not w.isascii(),
        "cap_mid": w[:1].isupper() and low in s.capitalised and i > 0 and not line_start,
        "all_lower": s.all_lower,
        "all_lower|w-1=" + s.word(i - 1): s.all_lower,
        "all_caps": w.isupper() and len(w) > 1,
        "repeated_cap": w[:1].isupper() and s.lows.count(low) > 1,
        "then_" + (s.tokens[i + 1].text if i + 1 < n else ""): i + 1 < n
        and s.tokens[i + 1].text in ":'"
        and s.tokens[i + 1].start == tok.end,
    }
    return [name for name, on in flags.items() if on]


def _marks(lows: Sequence[str], names: frozenset[str], tag: str, longest: int = 5) -> list[list[str]]:
    """B-/I- marks where a name of the list occurs, longest match first."""
    out: list[list[str]] = [[] for _ in lows]
    i = 0
    while names and i < len(lows):
        for j in range(min(len(lows), i + longest), i, -1):
            if " ".join(lows[i:j]) in names:
                out[i].append(f"{tag}=B")
                for k in range(i + 1, j):
                    out[k].append(f"{tag}=I")
                i = j - 1
                break
        i += 1
    return out
