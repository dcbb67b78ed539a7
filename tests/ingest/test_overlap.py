"""A batch embeds on a worker thread while the caller writes the one before and prepares the next:
batches still land in order, each written on the caller's thread, progress still reaches the
caller on its own thread, errors still surface, and a caller that fails leaves no batch half-done
or written behind its back. A run's first batch is small, so the model starts early."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from ragwright import TextRecord, Workspace
from ragwright.config import Settings


class Slow:
    """A real embedder for the pipeline's purpose (a text's vector: its length and first letter),
    slow enough for the caller to run ahead, recording which thread embedded what and when."""

    name, dim = "slow", 2

    def __init__(self, seconds: float = 0.15) -> None:
        self.seconds = seconds
        self.calls: list[tuple[str, float, int]] = []  # (thread name, start time, texts)
        self.fail_after: int | None = None

    def embed(self, texts):
        self.calls.append((threading.current_thread().name, time.monotonic(), len(texts)))
        if self.fail_after is not None and len(self.calls) > self.fail_after:
            raise RuntimeError("the model failed")
        time.sleep(self.seconds)
        return np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32) / 100.0


def records(n: int, seen: list[float] | None = None):
    for i in range(n):
        if seen is not None:
            seen.append(time.monotonic())
        yield TextRecord(f"d{i}", f"Document number {i} says something of its own, {i} times over.")


@pytest.fixture
def ws(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    settings.ingest.batch_chunks = 2  # two documents a batch
    model = Slow()
    with Workspace(settings=settings, embedder=model) as w:
        yield w, model


def test_the_next_batch_is_prepared_and_the_last_written_while_one_embeds_and_all_land_in_order(ws):
    w, model = ws
    prepared: list[float] = []
    writes: list[tuple[str, float, float, list[str]]] = []  # (thread, start, end, documents)
    write = w.store.write_documents

    def recording(batch, *args, **kwargs):
        start = time.monotonic()
        time.sleep(0.1)  # a slow disk
        out = write(batch, *args, **kwargs)
        writes.append((threading.current_thread().name, start, time.monotonic(), [d.document.doc_id for d in batch]))
        return out

    w.store.write_documents = recording
    report = w.ingest_records(records(7, prepared))
    assert report.ingested == 7 and not report.failed
    assert [d.doc_id for d in w.store.list_documents()] == sorted(f"d{i}" for i in range(7))
    assert [c[0][:16] for c in model.calls] == ["ragwright-ingest"] * 4  # 2 + 2 + 2 + 1 documents
    assert [ids for *_, ids in writes] == [["d0", "d1"], ["d2", "d3"], ["d4", "d5"], ["d6"]]  # in order
    assert {thread for thread, *_ in writes} == {threading.current_thread().name}
    # document 3 (of the second batch) was read while the first batch was still embedding
    first_start = model.calls[0][1]
    assert prepared[3] < first_start + model.seconds
    # the first batch was written while the second embedded (a write on the worker came between them)
    second_start, (_, write_start, write_end, _) = model.calls[1][1], writes[0]
    assert min(write_end, second_start + model.seconds) - max(write_start, second_start) > 0.05


def test_a_runs_first_batch_is_small_and_batches_grow_to_the_window(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    settings.ingest.batch_chunks = 512
    model = Slow(seconds=0.0)
    with Workspace(settings=settings, embedder=model) as w:
        assert w.ingest_records(records(1000)).ingested == 1000  # one chunk each
    assert [n for *_, n in model.calls] == [64, 128, 256, 512, 40]


def test_progress_reaches_the_caller_on_its_own_thread(ws, tmp_path):
    w, _ = ws
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(6):
        (folder / f"f{i}.md").write_text(f"# File {i}\n\nIts text, number {i}, is short.\n")
    threads: set[str] = set()
    given: list[float] = []

    def progress(done: float, item: str) -> None:
        threads.add(threading.current_thread().name)
        given.append(done)

    report = w.ingest([folder], progress=progress)
    assert report.ingested == 6
    assert threads == {threading.current_thread().name}
    assert sum(given) == pytest.approx(6)


def test_a_failing_batch_surfaces_and_later_batches_are_not_written(ws):
    w, model = ws
    model.fail_after = 1  # the second batch's embedding fails (on the worker)
    with pytest.raises(RuntimeError, match="the model failed"):
        w.ingest_records(records(9))
    stored = [d.doc_id for d in w.store.list_documents()]
    assert stored == ["d0", "d1"]  # the first batch whole; nothing after the failure
    assert not [t for t in threading.enumerate() if t.name.startswith("ragwright-ingest")]


def test_a_caller_that_fails_stops_the_batch_in_flight(ws):
    w, model = ws

    def failing():
        yield from records(3)  # the first batch is handed to the worker at the second record
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        w.ingest_records(failing())
    assert not [t for t in threading.enumerate() if t.name.startswith("ragwright-ingest")]
    assert [c[0][:16] for c in model.calls] == ["ragwright-ingest"]  # it was embedding on the worker
    assert w.store.list_documents() == []  # stopped before its write: nothing half-done
    assert w.ingest_records(records(3)).ingested == 3  # and nothing in the way of a rerun
