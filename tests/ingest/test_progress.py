"""Ingestion progress follows the embedding work: a batch's files advance while its chunks are
embedded, not all at once when they are read (which made the count race ahead, then stall)."""

from __future__ import annotations

import numpy as np

from ragwright.ingest.progress import SLICE, BatchProgress, embed_in_slices


class Recording:
    """A real embedder for the protocol's purpose: a text's vector is its length and first letter."""

    name, dim = "recording", 2

    def __init__(self) -> None:
        self.calls: list[int] = []

    def embed(self, texts):
        self.calls.append(len(texts))
        return np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32)


def test_slices_give_the_same_vectors_in_the_same_order():
    texts = [chr(97 + i % 26) * (1 + (i * 37) % 50) for i in range(SLICE * 2 + 1)]
    seen: list[tuple[int, int]] = []
    model = Recording()
    sliced = embed_in_slices(model, texts, lambda done, total: seen.append((done, total)))
    assert np.array_equal(sliced, Recording().embed(texts))
    assert len(model.calls) == 3 and min(model.calls) > 1  # a one-text call would take a query's path
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1] == (len(texts), len(texts))


def test_nobody_watching_means_one_call():
    model = Recording()
    embed_in_slices(model, ["abc"] * (SLICE * 3), None)
    assert model.calls == [SLICE * 3]


def test_a_batch_hands_out_its_files_once_in_all():
    given: list[float] = []
    share = BatchProgress(lambda n, item: given.append(n), files=10, item="last.md")
    share.on_embedded(1, 4)
    share.on_embedded(4, 4)
    share.stored()
    assert given == [2.5, 7.5] and sum(given) == 10  # stored() adds nothing once all is embedded
    reused = BatchProgress(lambda n, item: given.append(n), files=3, item="x")
    reused.stored()  # every vector reused: nothing embedded, the files count when stored
    assert given[-1] == 3 and BatchProgress(None, 3, "x").on_embedded is None


class Counting:
    """The session's embedder, counting the texts it has embedded."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim, self.embedded = inner, inner.name, inner.dim, 0

    def embed(self, texts):
        vectors = self.inner.embed(texts)
        self.embedded += len(texts)
        return vectors


def test_ingest_counts_a_file_once_its_chunks_are_embedded(settings, embedder, tmp_path):
    from ragwright import Workspace

    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(40):
        body = "\n\n".join(
            f"Note {i}, part {j}: the {j}th detail of topic {i} is recorded here. " * 6 for j in range(4)
        )
        (folder / f"n{i:02}.md").write_text(f"# Note {i}\n\n{body}\n")
    counting = Counting(embedder)
    steps: list[tuple[float, int]] = []
    with Workspace(settings=settings, embedder=counting) as ws:
        report = ws.ingest([folder], progress=lambda n, item: steps.append((n, counting.embedded)))
    assert report.ingested == 40 and SLICE < report.chunks <= 512  # one batch, more than one slice
    assert len(steps) > 1 and abs(sum(n for n, _ in steps) - 40) < 1e-9
    done = 0.0
    for n, embedded in steps:  # never ahead of the work: read-time counting said 40/40 with nothing embedded
        done += n
        assert done / 40 <= embedded / report.chunks + 1e-9
