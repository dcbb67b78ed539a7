"""Ingestion progress that follows the work: a file counts as done once its chunks are embedded.

Reading and chunking a file takes milliseconds; embedding its chunks is where the time goes
(97.5% of an ingest), and chunks are embedded a batch of documents at a time (ingest.batch_chunks,
512 by default: a hundred files or more). Counting files as they were read made the count race
to 171/400 and stall there for two minutes ("ETA 7 s" with 4 min to go). So a batch is embedded
in slices when someone watches, and each slice advances the batch's files pro rata: the count
moves every few seconds, and the ETA is the average pace of real work."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..models.embedding import Embedder

Progress = Callable[[float, str], None]  # (files advanced, possibly a fraction; the current item)
SLICE = 64  # texts per embedding call while progress is watched (2 of the local model's batches of 32)


def embed_in_slices(
    embedder: Embedder, texts: Sequence[str], on_embedded: Callable[[int, int], None] | None = None
) -> np.ndarray:
    """embedder.embed(texts), in slices of about SLICE texts when `on_embedded(done, total)` is
    given. Texts are sliced in order of length, so that slicing adds no padding to the model's
    own length-sorted batches; no slice has a single text (a one-text call is a query's path)."""
    if on_embedded is None or len(texts) <= SLICE:
        vectors = embedder.embed(texts)
        if on_embedded is not None:
            on_embedded(len(texts), len(texts))
        return vectors
    order = np.argsort([len(t) for t in texts], kind="stable")
    parts, done = [], 0
    for idx in np.array_split(order, -(-len(texts) // SLICE)):
        parts.append(embedder.embed([texts[i] for i in idx]))
        done += len(idx)
        on_embedded(done, len(texts))
    out = np.empty((len(texts), parts[0].shape[1]), dtype=parts[0].dtype)
    out[order] = np.vstack(parts)
    return out


class BatchProgress:
    """Hands out a batch's files as progress: pro rata while its chunks are embedded, the rest
    once it is stored (all of it when every vector was reused)."""

    def __init__(self, progress: Progress | None, files: int, item: str) -> None:
        self.progress, self.files, self.item, self.given = progress, files, item, 0.0

    @property
    def on_embedded(self) -> Callable[[int, int], None] | None:
        """For embed_in_slices: None when nobody watches (one embedding call, as before)."""
        return self._embedded if self.progress is not None else None

    def _embedded(self, done: int, total: int) -> None:
        self._give(self.files * done / total if total else 0.0)

    def stored(self) -> None:
        self._give(float(self.files))

    def _give(self, upto: float) -> None:
        if self.progress is not None and upto > self.given:
            self.progress(upto - self.given, self.item)
            self.given = upto
