"""all-MiniLM-L6-v2 in torch, for fine-tuning the injection cascade's second stage (training only).

Needs torch, which ragwright does not depend on: run in a separate venv holding the CPU wheel
(`pip install torch==2.13.0` from the file on disk), with the project's venv behind it on
PYTHONPATH (see train_injection_ft.py). The arithmetic is the numpy runtime's
(ragwright.guard.injection_ft): tanh-approximated GELU, LayerNorm eps 1e-12, a -1e4 mask bias,
so what is trained is what runs. The lower layers are frozen and run once per text (`lower`); the
top layers get low-rank adapters (LoRA) on their six products and trainable LayerNorms, and a
linear head reads the masked mean of the last layer: only those few weights are shipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ragwright.guard.minilm import WordVectors, model_file

PRODUCTS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
NORMS = ("attention.output.LayerNorm", "output.LayerNorm")


def load_weights() -> dict[str, torch.Tensor]:
    """The packaged fp32 weights (sha256-checked by ragwright.guard.minilm.model_file)."""
    from safetensors.torch import load_file

    return load_file(str(model_file(*WordVectors.WEIGHTS)))


def _norm(x: torch.Tensor, g: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return nn.functional.layer_norm(x, (x.shape[-1],), g, b, eps=1e-12)


class LoRALinear(nn.Module):
    """y = x W^T + b + (x A^T) B^T * scale, W and b frozen; B starts at zero (no change at first)."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor, rank: int, alpha: float) -> None:
        super().__init__()
        self.w, self.b = nn.Parameter(w, requires_grad=False), nn.Parameter(b, requires_grad=False)
        self.a = nn.Parameter(torch.randn(rank, w.shape[1]) / math.sqrt(w.shape[1]))
        self.up = nn.Parameter(torch.zeros(w.shape[0], rank))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.w, self.b) + (x @ self.a.T) @ self.up.T * self.scale

    def delta(self) -> torch.Tensor:
        """The merged change to W (out, in)."""
        return self.up @ self.a * self.scale


class Layer(nn.Module):
    """One BERT layer as the numpy runtime computes it."""

    def __init__(self, w: dict[str, torch.Tensor], prefix: str, rank: int, alpha: float) -> None:
        super().__init__()
        self.lin = nn.ModuleDict(
            {
                p.replace(".", "_"): LoRALinear(w[f"{prefix}{p}.weight"], w[f"{prefix}{p}.bias"], rank, alpha)
                for p in PRODUCTS
            }
        )
        self.norms = nn.ParameterDict(
            {
                f"{n.replace('.', '_')}_{k}": nn.Parameter(w[f"{prefix}{n}.{k}"].clone())
                for n in NORMS
                for k in ("weight", "bias")
            }
        )

    def _ln(self, x: torch.Tensor, name: str) -> torch.Tensor:
        key = name.replace(".", "_")
        return _norm(x, self.norms[f"{key}_weight"], self.norms[f"{key}_bias"])

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = (
            self.lin[f"attention_self_{m}"](x).reshape(b, n, 12, 32).transpose(1, 2) for m in ("query", "key", "value")
        )
        att = torch.softmax(q @ k.transpose(-1, -2) * 32**-0.5 + bias, dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(b, n, d)
        x = self._ln(self.lin["attention_output_dense"](ctx) + x, "attention.output.LayerNorm")
        h = nn.functional.gelu(self.lin["intermediate_dense"](x), approximate="tanh")
        return self._ln(self.lin["output_dense"](h) + x, "output.LayerNorm")


class TopClassifier(nn.Module):
    """Layers `first`..5 with adapters, masked mean, a linear head: a logit per text."""

    def __init__(self, w: dict[str, torch.Tensor], first: int, rank: int, alpha: float) -> None:
        super().__init__()
        self.first = first
        self.layers = nn.ModuleList([Layer(w, f"encoder.layer.{i}.", rank, alpha) for i in range(first, 6)])
        self.head = nn.Linear(384, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        bias = ((1.0 - mask[:, None, None, :]) * -1e4).to(x.dtype)
        for layer in self.layers:
            x = layer(x, bias)
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        out: torch.Tensor = self.head(pooled).squeeze(-1)
        return out

    def export(self) -> dict[str, np.ndarray]:
        """What ships: per top layer the merged deltas of its products (as low-rank factors) and
        its LayerNorms; the head. Names as in the safetensors file, with `.lora_a` / `.lora_b`."""
        out: dict[str, np.ndarray] = {}
        for i, layer in zip(range(self.first, 6), self.layers, strict=True):
            for p in PRODUCTS:
                lin = layer.lin[p.replace(".", "_")]
                out[f"encoder.layer.{i}.{p}.lora_a"] = lin.a.detach().numpy().astype(np.float32)
                out[f"encoder.layer.{i}.{p}.lora_b"] = (lin.up.detach() * lin.scale).numpy().astype(np.float32)
            for n in NORMS:
                for k in ("weight", "bias"):
                    key = f"{n.replace('.', '_')}_{k}"
                    out[f"encoder.layer.{i}.{n}.{k}"] = layer.norms[key].detach().numpy().astype(np.float32)
        out["head.weight"] = self.head.weight.detach().numpy()[0].astype(np.float32)
        out["head.bias"] = self.head.bias.detach().numpy().astype(np.float32)
        return out


class Lower(nn.Module):
    """The frozen embeddings and layers 0..first-1 (no adapters), run once per text."""

    def __init__(self, w: dict[str, torch.Tensor], first: int) -> None:
        super().__init__()
        self.w = w
        self.layers = nn.ModuleList([Layer(w, f"encoder.layer.{i}.", 1, 1.0) for i in range(first)])

    @torch.no_grad()
    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        w = self.w
        n = ids.shape[1]
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = (1.0 - mask[:, None, None, :]) * -1e4
        for layer in self.layers:
            x = layer(x, bias)
        return x


def pad(rows: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of [n_i, ...] padded into one batch, and its mask."""
    n = max(len(r) for r in rows)
    shape: tuple[Any, ...] = (len(rows), n, *rows[0].shape[1:])
    out = np.zeros(shape, dtype=rows[0].dtype)
    mask = np.zeros((len(rows), n), dtype=np.float32)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
        mask[i, : len(r)] = 1.0
    return torch.from_numpy(out), torch.from_numpy(mask)
