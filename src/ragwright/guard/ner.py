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
The tagger and its weights are here; what it reads of each token is in _ner/features.py, and the
rules that turn its tag runs into the spans it reports in _ner/spans.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ._ner.features import Token, feature_hash, token_features, tokenize
from ._ner.spans import bio_tags, bio_to_spans, join_adjacent, shaped_spans, split_address, trim
from .minilm import WordVectors

__all__ = [
    "DATA_DIR",
    "FEATURE_VERSION",
    "META_FILE",
    "MULTILINE",
    "NER_LABELS",
    "WEIGHTS_FILE",
    "Encoded",
    "Inputs",
    "NameTagger",
    "Token",
    "bio_tags",
    "bio_to_spans",
    "join_adjacent",
    "split_address",
    "token_features",
    "tokenize",
    "trim",
]

#: Labels the tagger emits (Presidio's names; the data set's GPE is emitted as LOCATION).
NER_LABELS: tuple[str, ...] = ("PERSON", "ORGANIZATION", "LOCATION", "STREET_ADDRESS")
DATA_DIR = Path(__file__).resolve().parent / "data"
WEIGHTS_FILE, META_FILE = "ner_weights.npz", "ner_meta.json"
MULTILINE = frozenset({"STREET_ADDRESS"})  # the only label whose spans may cross a line break
FEATURE_VERSION = 3  # bump when features or vectors change: old weights then refuse to load

# (hashed features per token, gold tag ids, MiniLM vectors, line break before each token)
Encoded = tuple[list[list[int]], list[int], np.ndarray, np.ndarray]
Inputs = tuple[list[Token], list[list[int]], np.ndarray, np.ndarray]
Name = tuple[int, int, str, float]  # (start, end, label, confidence)


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
        self.allowed = _allowed_transitions(self.tags)
        self.no_cross = [j for j, tag in enumerate(self.tags) if tag.startswith("I-") and tag[2:] not in MULTILINE]

    def inputs(self, texts: Sequence[str]) -> list[Inputs]:
        """Tokens, hashed sparse features, dense vectors and line breaks of each text (what tag and
        fit consume)."""
        tokens = [tokenize(t) for t in texts]
        vecs = self.vectors.many(texts, tokens)
        return [
            (
                tok,
                [[feature_hash(x) for x in f] for f in token_features(text, tok, pieces, self.countries)],
                v,
                _line_breaks(text, tok),
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

    def tag(self, text: str) -> list[Name]:
        """(start, end, label, score) of each name in text; score is a softmax-based confidence."""
        return self.tag_many([text])[0]

    def tag_many(self, texts: Sequence[str]) -> list[list[Name]]:
        """tag() for several texts, with the MiniLM part batched."""
        if not self.rows:
            return [[] for _ in texts]
        return [self._decode(*x) for x in self.inputs(texts)]

    def _decode(
        self, tokens: list[Token], hashed: list[list[int]], vectors: np.ndarray, breaks: np.ndarray
    ) -> list[Name]:
        """One text's names: the best tag path shaped into spans as the data set draws them
        (_ner/spans.py), each scored by the mean confidence of its tokens' tags."""
        if not tokens:
            return []
        em = self._emissions(hashed, vectors)
        path = self._viterbi(em, self.trans, breaks)
        prob = self._confidence(em, path)
        return [
            (
                tokens[x].start,
                tokens[y - 1].end,
                label,
                round(float(np.mean([prob[i, path[i]] for i in range(x, y)])), 4),
            )
            for label, x, y in shaped_spans(tokens, [self.tags[k] for k in path], breaks, self.countries)
        ]

    def _emissions(self, hashed: list[list[int]], vectors: np.ndarray) -> np.ndarray:
        """Each token's score for each tag: its MiniLM vector through the dense weights, plus the
        weight rows of those of its features that training saw (the others have none)."""
        rows, weights = self.rows, self.weights
        em = vectors @ self.dense
        for i, f in enumerate(hashed):
            idx = [r for r in (rows.get(h) for h in f) if r is not None]
            if idx:
                em[i] += weights[idx].sum(axis=0)
        return em

    def _confidence(self, em: np.ndarray, path: list[int]) -> np.ndarray:
        """Each token's tag against the others allowed after the tag before it (a plain softmax
        ignores that I-X cannot follow O, and gave found names 0.0), with the perceptron's scores
        cooled: plain words win by margins in the hundreds, names by 10 to 30, a doubtful made-up
        word by about 3."""
        t = len(self.tags)
        local = np.where(self.allowed[[t, *path[:-1]]], em / np.float32(10), np.float32(-1e9))
        z = np.exp(local - local.max(axis=1, keepdims=True))
        prob: np.ndarray = z / z.sum(axis=1, keepdims=True)
        return prob

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


def _allowed_transitions(tags: Sequence[str]) -> np.ndarray:
    """Which tag may follow which (row len(tags) = start of text): I-X only after B-X or I-X, a
    hard constraint rather than something to learn."""
    t = len(tags)
    allowed = np.ones((t + 1, t), dtype=bool)
    for j, tag in enumerate(tags):
        if tag.startswith("I-"):
            allowed[:, j] = False
            allowed[list(tags).index("B-" + tag[2:]), j] = True
            allowed[j, j] = True
    return allowed


def _line_breaks(text: str, tokens: Sequence[Token]) -> np.ndarray:
    """Whether a line break comes before each token (never before the first)."""
    return np.array([i > 0 and "\n" in text[tokens[i - 1].end : t.start] for i, t in enumerate(tokens)], dtype=bool)
