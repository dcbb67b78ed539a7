"""Vector arithmetic the embedders share."""

from __future__ import annotations

import numpy as np


def normalise(arr: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 length (an all-zero row stays zero), as float32."""
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    out: np.ndarray = (arr / np.clip(norms, 1e-12, None)).astype(np.float32)
    return out
