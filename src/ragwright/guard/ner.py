"""Person, organisation, location and street-address names: a small token tagger trained here.

Why not spaCy's NER: its English models are not on PyPI (only unofficial re-uploads, a supply-chain
risk), and nothing may be downloaded at run time. So names are found by an averaged structured
perceptron over BIO tags with first-order transitions and Viterbi decoding, on hand-made features
(word shape, affixes, capitalisation, neighbouring words, line position, and one gazetteer: country
names in six languages, from phonenumbers' locale data, not from the training set).
Two inputs come from all-MiniLM-L6-v2, which ragwright already ships for embeddings: how many word
pieces of its 30k vocabulary a word takes (a common word one, a foreign surname or made-up company
several: word frequency without a word list), and a contextual vector for each word (its third
layer, mean over the word's pieces), which carries what the model learnt about names in its
pre-training. On templates held out from training, the vectors raised name recall by about 15 points.
Besides the dev set it trains on sentences from hand-written patterns filled by Faker
(tools/guard/ner_synth.py), which teach contexts the dev set's 104 templates lack: about 7 more
points of held-out recall.
An address's town and country lines are reported as LOCATION beside its street part
(`split_address`), as Presidio's spaCy model reports a town wherever it stands: 4 points of recall.

Tried and not taken (held-out recall, same folds): MiniLM's layers 4-6 fine-tuned with LoRA as a
tagger, alone 0.60 and mixed into the perceptron's scores no better than the perceptron (one fold).

It trains on CPU in under a minute (`python -m tools.guard.train_ner` in a checkout: training is not
part of the installed package) and its weights ship as npz + JSON: features are stored as 64-bit
hashes, so the files hold no text of the training data and load without pickle.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .minilm import WordVectors

#: Labels the tagger emits (Presidio's names; the data set's GPE is emitted as LOCATION).
NER_LABELS: tuple[str, ...] = ("PERSON", "ORGANIZATION", "LOCATION", "STREET_ADDRESS")
DATA_DIR = Path(__file__).resolve().parent / "data"
WEIGHTS_FILE, META_FILE = "ner_weights.npz", "ner_meta.json"
MULTILINE = frozenset({"STREET_ADDRESS"})  # the only label whose spans may cross a line break
FEATURE_VERSION = 3  # bump when features or vectors change: old weights then refuse to load

_TOKEN = re.compile(r"\w+|[^\w\s]")
# A small closed-class word list (function words), not a name list: a capitalised "The" or "My"
# at the start of a sentence is no name, and the tagger cannot learn that from shape alone.
_FUNCTION_WORDS = frozenset(
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


def _shape(word: str, run: int = 2) -> str:
    """Xxxx-style shape: upper X, lower x, digit d, others as is; runs cut to `run` characters."""
    out: list[str] = []
    for ch in word:
        c = "X" if ch.isupper() else "x" if ch.isalpha() else "d" if ch.isdigit() else ch
        if len(out) < run or out[-run:] != [c] * run:
            out.append(c)
    return "".join(out)


def token_features(
    text: str, tokens: Sequence[Token], pieces: Sequence[int], countries: frozenset[str] = frozenset()
) -> list[list[str]]:
    """Feature strings for each token; the same function serves training and tagging.

    pieces: how many word pieces of MiniLM's (uncased, 30k) vocabulary each token takes; a rare
    word (a foreign surname, a made-up company) takes several, a common word one.
    countries: country names (lower case, tokens joined by spaces) marked where they occur.
    """
    n = len(tokens)
    lows = [t.text.lower() for t in tokens]
    gazetteer = _marks(lows, countries, "country")
    shapes = [_shape(t.text, 1) for t in tokens]
    capitalised = {t.text.lower() for t in tokens if t.text[:1].isupper()}
    all_lower = not any(ch.isupper() for ch in text)

    def word(i: int) -> str:
        return lows[i] if 0 <= i < n else ("<s>" if i < 0 else "</s>")

    def shp(i: int) -> str:
        return shapes[i] if 0 <= i < n else ("<s>" if i < 0 else "</s>")

    feats: list[list[str]] = []
    for i, tok in enumerate(tokens):
        w, low, wp = tok.text, lows[i], str(min(pieces[i], 4))
        line_start = i == 0 or "\n" in text[tokens[i - 1].end : tok.start]
        f = [
            "b",
            "w=" + low,
            "sh=" + _shape(w),
            "ss=" + shapes[i],
            "p1=" + low[:1],
            "p2=" + low[:2],
            "p3=" + low[:3],
            "s1=" + low[-1:],
            "s2=" + low[-2:],
            "s3=" + low[-3:],
            "s4=" + low[-4:],
            "len=" + str(min(len(w), 10)),
            "w-1=" + word(i - 1),
            "w+1=" + word(i + 1),
            "w-2=" + word(i - 2),
            "w+2=" + word(i + 2),
            "sh-1=" + shp(i - 1),
            "sh+1=" + shp(i + 1),
            "sh-2=" + shp(i - 2),
            "sh+2=" + shp(i + 2),
            "sh-1|sh=" + shp(i - 1) + "|" + shapes[i],
            "sh|sh+1=" + shapes[i] + "|" + shp(i + 1),
            "w-1|sh=" + word(i - 1) + "|" + shapes[i],
            "sh|w+1=" + shapes[i] + "|" + word(i + 1),
            "w-2|w-1=" + word(i - 2) + "|" + word(i - 1),
            "wp=" + wp,
            "wp|ss=" + wp + "|" + shapes[i],
            "wp|fw=" + wp + "|" + str(int(low in _FUNCTION_WORDS)),
        ]
        flags = {
            "line_start": line_start,
            "line_end": i == n - 1 or "\n" in text[tok.end : tokens[i + 1].start],
            "first": i == 0,
            "function_word": low in _FUNCTION_WORDS,
            "non_ascii": not w.isascii(),
            "cap_mid": w[:1].isupper() and low in capitalised and i > 0 and not line_start,
            "all_lower": all_lower,
            "all_lower|w-1=" + word(i - 1): all_lower,
            "all_caps": w.isupper() and len(w) > 1,
            "repeated_cap": w[:1].isupper() and lows.count(low) > 1,
            "then_" + (tokens[i + 1].text if i + 1 < n else ""): i + 1 < n
            and tokens[i + 1].text in ":'"
            and tokens[i + 1].start == tok.end,
        }
        f += [name for name, on in flags.items() if on]
        if i > 0:
            f.append("wp-1|wp=" + str(min(pieces[i - 1], 4)) + "|" + wp)
        feats.append(f + gazetteer[i])
    return feats


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


def _hash(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little") >> 1


def bio_tags(labels: Sequence[str]) -> list[str]:
    """The tag inventory: O plus B-/I- for each label."""
    return ["O"] + [f"{p}-{lab}" for lab in labels for p in ("B", "I")]


def bio_to_spans(tokens: Sequence[Token], tags: Sequence[str]) -> list[tuple[int, int, str, int, int]]:
    """(start, end, label, first token, last token + 1) for each run of B-X I-X..."""
    out: list[tuple[int, int, str, int, int]] = []
    i = 0
    while i < len(tags):
        if tags[i] == "O":
            i += 1
            continue
        label, j = tags[i][2:], i + 1
        while j < len(tags) and tags[j] == "I-" + label:
            j += 1
        out.append((tokens[i].start, tokens[j - 1].end, label, i, j))
        i = j
    return out


# Words that name a kind of personal data, not a person or a firm: "send the IBAN" (tagged PERSON
# 9 times in one held-out draw, since a capitalised short word after a verb looks like a name).
_DATA_WORDS = frozenset(
    [
        "iban",
        "ssn",
        "cvv",
        "cvc",
        "pin",
        "swift",
        "bic",
        "url",
        "email",
        "e-mail",
        "id",
        "dob",
        "vat",
        "ein",
        "itin",
    ]
)
_HONORIFICS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "prof",
        "sir",
        "madam",
        "dame",
        "mme",
        "mlle",
        "herr",
        "frau",
    ]
)
_COMPASS = frozenset(["northern", "southern", "eastern", "western", "central", "north", "south", "east", "west"])
_ABBREVIATIONS = frozenset(["inc", "ltd", "co", "corp", "llc", "plc", "bros", "jr", "sr", "st"])


def trim(
    tokens: Sequence[Token], a: int, b: int, label: str, countries: frozenset[str] = frozenset()
) -> tuple[int, int]:
    """Span boundaries as Presidio and the data set draw them: a person's name without the title
    before it ("Mrs. Harris" -> "Harris"; TITLE is a label of its own), no full stop at the end unless
    it ends an abbreviation ("Pelhrimov." but "Conway Inc.", taken even when the tagger left it
    out), no leading article on an organisation or place ("The Garmin" -> "Garmin"), and a
    country without the compass word before it ("Southern Tunisia" -> "Tunisia", as OntoNotes
    marks "southern Tunisia"; "South Africa" is a country of its own and stays whole). A span is
    never trimmed to nothing."""
    if label == "PERSON":
        while b - a > 1 and tokens[a].text.lower() in _HONORIFICS:
            a += 2 if b - a > 2 and tokens[a + 1].text == "." else 1
    elif label in ("ORGANIZATION", "LOCATION") and b - a > 1 and tokens[a].text.lower() == "the":
        a += 1
    if label == "LOCATION" and b - a > 1 and tokens[a].text.lower() in _COMPASS:
        words = [t.text.lower() for t in tokens[a:b]]
        country = " ".join(words[1:]) in countries and " ".join(words) not in countries
        if country and words[:2] != ["northern", "ireland"]:
            a += 1
    abbreviated = (
        b - a > 1
        and tokens[b - 1].text == "."
        and (tokens[b - 2].text.lower() in _ABBREVIATIONS or len(tokens[b - 2].text) == 1)
    )
    if label != "STREET_ADDRESS" and b - a > 1 and tokens[b - 1].text in ".,;:" and not abbreviated:
        b -= 1
    elif (
        label == "ORGANIZATION"
        and b < len(tokens)
        and tokens[b].text == "."
        and tokens[b].start == tokens[b - 1].end
        and tokens[b - 1].text.lower() in _ABBREVIATIONS
    ):
        b += 1  # "Conway Inc." keeps its full stop
    return a, b


def join_adjacent(
    tokens: Sequence[Token], spans: Sequence[tuple[int, int, str, int, int]], breaks: np.ndarray
) -> list[tuple[str, int, int]]:
    """(label, first token, last token + 1) with two names that touch (only a space between them,
    same line) made one, of the last one's type: "Rapid" PERSON + "Cycle Solutions" ORGANIZATION
    is one organisation; a name is not two names of different kinds side by side."""
    out: list[tuple[str, int, int]] = []
    for _, _, label, a, b in spans:
        if (
            out
            and out[-1][2] == a
            and label != "STREET_ADDRESS"
            and out[-1][0] != "STREET_ADDRESS"
            and not breaks[a]
            and tokens[a - 1].text[-1:].isalnum()
        ):
            a = out.pop()[1]
        out.append((label, a, b))
    return out


# Words of the street part of an address: a line holding one is not the town or country line.
_STREET_WORDS = frozenset(
    [
        "apt",
        "apartment",
        "suite",
        "ste",
        "unit",
        "floor",
        "fl",
        "flat",
        "room",
        "box",
        "po",
        "p.o",
        "street",
        "st",
        "road",
        "rd",
        "avenue",
        "ave",
        "lane",
        "ln",
        "drive",
        "dr",
        "way",
        "place",
        "pl",
        "court",
        "ct",
        "square",
        "sq",
        "boulevard",
        "blvd",
        "terrace",
        "parkway",
        "pkwy",
        "highway",
        "hwy",
    ]
)


def split_address(tokens: Sequence[Token], a: int, b: int, breaks: np.ndarray) -> list[tuple[str, int, int]]:
    """An address as its street part and its place lines: the town and country lines at its end
    ("...Suite 501\n Riisa\n Estonia 62488") are reported as LOCATION, a postcode after them
    stays STREET_ADDRESS. Towns are places wherever they are written, and four address templates
    of the PII set mark them so; in the others the whole address is one STREET_ADDRESS, which
    these parts still cover for redaction. Lines are split at line breaks and commas; a place
    line has no digit and no street word. The first line is never a place."""
    cuts = [a] + [i for i in range(a + 1, b) if breaks[i] or tokens[i].text == ","] + [b]
    parts: list[tuple[str, int, int]] = []
    for cut, y in reversed(list(itertools.pairwise(cuts[1:]))):
        x = cut + (tokens[cut].text == ",")
        end = y - 1 if y - x > 1 and tokens[y - 1].text.isdigit() else y  # a postcode after the place
        words = [t.text.lower().rstrip(".") for t in tokens[x:end]]
        if (
            not words
            or any(ch.isdigit() for w in words for ch in w)
            or _STREET_WORDS.intersection(words)
            or not any(t.text[:1].isupper() for t in tokens[x:end])
        ):
            break
        parts = [("LOCATION", x, end), *([("STREET_ADDRESS", end, y)] if end < y else []), *parts]
        b = cut
    while b > a and tokens[b - 1].text == ",":
        b -= 1
    return [("STREET_ADDRESS", a, b), *parts] if b > a else parts


# (hashed features per token, gold tag ids, MiniLM vectors, line break before each token)
Encoded = tuple[list[list[int]], list[int], np.ndarray, np.ndarray]
Inputs = tuple[list[Token], list[list[int]], np.ndarray, np.ndarray]


class NameTagger:
    """An averaged structured perceptron over BIO tags (see the module docstring for why)."""

    def __init__(self, labels: Sequence[str] = NER_LABELS, vectors: WordVectors | None = None) -> None:
        self.labels = tuple(labels)
        self.tags = bio_tags(self.labels)
        t = len(self.tags)
        self.vectors = vectors or WordVectors()
        self.countries: frozenset[str] = frozenset()  # set in training from phonenumbers' country names
        self.rows: dict[int, int] = {}
        self.weights = np.zeros((0, t), dtype=np.float32)
        self.dense = np.zeros((WordVectors.DIM, t), dtype=np.float32)
        self.trans = np.zeros((t + 1, t), dtype=np.float32)  # row t = start of text
        # I-X may only follow B-X or I-X: a hard constraint, not something to learn.
        self.allowed = np.ones((t + 1, t), dtype=bool)
        for j, tag in enumerate(self.tags):
            if tag.startswith("I-"):
                lab = tag[2:]
                self.allowed[:, j] = False
                self.allowed[self.tags.index("B-" + lab), j] = True
                self.allowed[j, j] = True
        self.no_cross = [j for j, tag in enumerate(self.tags) if tag.startswith("I-") and tag[2:] not in MULTILINE]

    def inputs(self, texts: Sequence[str]) -> list[Inputs]:
        """Tokens, hashed sparse features, dense vectors and line breaks of each text (what tag and
        fit consume)."""
        tokens = [tokenize(t) for t in texts]
        vecs = self.vectors.many(texts, tokens)
        return [
            (
                tok,
                [[_hash(x) for x in f] for f in token_features(text, tok, pieces, self.countries)],
                v,
                np.array([i > 0 and "\n" in text[tok[i - 1].end : t.start] for i, t in enumerate(tok)], dtype=bool),
            )
            for text, tok, (pieces, v) in zip(texts, tokens, vecs, strict=True)
        ]

    # -- tagging -----------------------------------------------------------------------------
    def _viterbi(self, em: np.ndarray, trans: np.ndarray, breaks: np.ndarray | None = None) -> list[int]:
        """Best tag path; a name other than a street address never continues across a line break
        (in the data, "Name\nJob title" lines were otherwise joined into one name)."""
        n, t = em.shape
        masked = np.where(self.allowed, trans, np.float32(-1e9))
        score = masked[t] + em[0]
        back = np.zeros((n, t), dtype=np.int64)
        for i in range(1, n):
            cand = score[:, None] + masked[:t]
            if breaks is not None and breaks[i]:
                cand[:, self.no_cross] = -1e9
            back[i] = cand.argmax(axis=0)
            score = cand.max(axis=0) + em[i]
        path = [int(score.argmax())]
        for i in range(n - 1, 0, -1):
            path.append(int(back[i, path[-1]]))
        return path[::-1]

    def tag(self, text: str) -> list[tuple[int, int, str, float]]:
        """(start, end, label, score) of each name in text; score is a softmax-based confidence."""
        return self.tag_many([text])[0]

    def tag_many(self, texts: Sequence[str]) -> list[list[tuple[int, int, str, float]]]:
        """tag() for several texts, with the MiniLM part batched."""
        if not self.rows:
            return [[] for _ in texts]
        return [self._decode(*x) for x in self.inputs(texts)]

    def _decode(
        self, tokens: list[Token], hashed: list[list[int]], vectors: np.ndarray, breaks: np.ndarray
    ) -> list[tuple[int, int, str, float]]:
        if not tokens:
            return []
        rows, weights = self.rows, self.weights
        em = vectors @ self.dense
        for i, f in enumerate(hashed):
            idx = [r for r in (rows.get(h) for h in f) if r is not None]
            if idx:
                em[i] += weights[idx].sum(axis=0)
        path = self._viterbi(em, self.trans, breaks)
        # Confidence: each token's tag against the others allowed after the tag before it (a plain
        # softmax ignores that I-X cannot follow O, and gave found names 0.0), with the perceptron's
        # scores cooled: plain words win by margins in the hundreds, names by 10 to 30, a doubtful
        # made-up word by about 3.
        t = len(self.tags)
        local = np.where(self.allowed[[t, *path[:-1]]], em / np.float32(10), np.float32(-1e9))
        z = np.exp(local - local.max(axis=1, keepdims=True))
        prob = z / z.sum(axis=1, keepdims=True)
        out = []
        for label, a, b in join_adjacent(tokens, bio_to_spans(tokens, [self.tags[k] for k in path]), breaks):
            a, b = trim(tokens, a, b, label, self.countries)
            if b - a == 1 and tokens[a].text.lower() in _DATA_WORDS:
                continue
            for part, x, y in split_address(tokens, a, b, breaks) if label == "STREET_ADDRESS" else [(label, a, b)]:
                out.append(
                    (
                        tokens[x].start,
                        tokens[y - 1].end,
                        part,
                        round(float(np.mean([prob[i, path[i]] for i in range(x, y)])), 4),
                    )
                )
        return out

    # -- the shipped weights (written by tools/guard/train_ner.save) -------------------
    @classmethod
    def load(cls, folder: Path = DATA_DIR, vectors: WordVectors | None = None) -> NameTagger:
        """The shipped weights; ModelError with the command that makes them when missing or stale."""
        meta_path, weights_path = folder / META_FILE, folder / WEIGHTS_FILE
        retrain = "`python -m tools.guard.train_ner --data ../shared/data/pii/dev.jsonl` in a checkout"
        if not meta_path.is_file() or not weights_path.is_file():
            raise ModelError(f"no name-tagger weights in {folder}: run {retrain}")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("feature_version") != FEATURE_VERSION:
            raise ModelError(
                f"{meta_path}: feature version {meta.get('feature_version')}, "
                f"this code reads {FEATURE_VERSION}: run {retrain}"
            )
        tagger = cls(meta["labels"], vectors)
        tagger.countries = frozenset(meta.get("countries", ()))
        with np.load(weights_path, allow_pickle=False) as npz:
            tagger.weights = npz["weights"].astype(np.float32)
            tagger.dense = npz["dense"].astype(np.float32)
            tagger.trans = npz["trans"].astype(np.float32)
            tagger.rows = {int(h): i for i, h in enumerate(npz["hashes"].tolist())}
        return tagger
