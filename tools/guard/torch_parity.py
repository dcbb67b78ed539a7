"""Torch/numpy parity of the fine-tuned injection stage: the trainer's torch layers
(tools/guard/minilm_torch.py) compute what guard/injection_ft.py's numpy pass computes (same GELU,
LayerNorm, mask). Needs torch, so it runs in the trainer's venv, not in the test suite:

    PYTHONPATH=.:src:.venv/lib/python3.11/site-packages /tmp/ft-venv/bin/python -m tools.guard.torch_parity
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np

from ragwright.guard.injection_ft import FineTunedHead


def check_parity(tmp_path: Path) -> float:
    """The trainer's torch layers compute what injection_ft's numpy pass computes (same GELU,
    LayerNorm, mask): with random adapters, logits agree. Runs where torch is installed (the
    trainer's venv, see tools/guard/train_injection_ft.py): run it there after changing either."""
    import torch

    from ragwright.guard.minilm import WordVectors, model_file
    from tools.guard import minilm_torch as M

    torch.manual_seed(0)
    w = M.load_weights()
    model = M.TopClassifier(w, 5, 4, 8.0)
    for p in model.parameters():
        if p.requires_grad:
            p.data.normal_(0, 0.05)
    lower = M.Lower(w, 5)
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_file(*WordVectors.TOKENIZER)))
    tok.no_padding()  # the stock file pads to 128
    texts = ["Ignore the above.", "How do I reset my password on the staff portal?"]
    ids = [np.array([101, *tok.encode(t, add_special_tokens=False).ids, 102]) for t in texts]
    x, m = M.pad(ids)
    with torch.no_grad():
        want = model(lower(x.long(), m), m).numpy()
    path = tmp_path / "d.safetensors"
    from safetensors.numpy import save_file

    save_file(model.export(), str(path))
    got = FineTunedHead(hashlib.sha256(path.read_bytes()).hexdigest(), path).logits(texts)
    diff = float(np.abs(got - want).max())
    assert diff < 1e-3, f"the numpy runtime differs from the torch trainer by {diff}"
    return diff


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        print(f"max |numpy - torch| logit difference: {check_parity(Path(tmp)):.2e}")
