"""`ragwright store copy`: a whole workspace from one store to another (SQLite to PostgreSQL, or
back), safe to run again after an interruption.

What moves, and how:
- documents, chunks, vectors and the manifest through the store API (write_documents with the
  stored vectors: nothing is embedded again), so the target's own writer builds its keyword
  statistics and vocabulary; failed manifest entries through record_failure;
- meta that belongs to the workspace (the embedder's name, refusal calibrations and the tuned
  margin): every key but the ones a backend keeps for itself (LOCAL_META: write generation,
  stamps, vocabulary epoch, vector dimension, the learned-version counter);
- traces, feedback, learned versions with their marks, API keys (hashes), the audit log, jobs,
  evaluation runs, the budget ledger (model calls) and the caches row by row (store/rows.py),
  since no API reads them back whole. Budget reservations are not copied: they live minutes.

Re-running is the way to resume: a document already in the target with the same content hash and
chunk count is skipped (each batch of documents is one transaction), rows are inserted only when
their key is new, a learned version with its marks in one transaction. The target must be empty or
filled by an earlier copy from the same source (meta 'copy.from'), never someone else's
workspace. The source should not be written meanwhile; the closing count check says if it was."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreError
from ..types import Chunk
from .contract import DocumentWrite, Store
from .factory import location, open_store
from .rows import BATCH, LEARNED, LEARNED_MARKS, TABLES, Row, Rows, Table, open_rows

COPY_FROM = "copy.from"  # where the target's data was copied from (a masked URL or a path)
LOCAL_META = frozenset({"generation", "write_stamp", "vocab_epoch", "removed_floor", "dim", "learned", COPY_FROM})
DOC_BATCH = 100  # documents per transaction
CHUNK_READ = 1000  # chunk ids per get_chunks

Advance = Callable[[int], None]
Track = Callable[[str, int], AbstractContextManager[Advance]]  # (table, total) -> advance(n)
AfterBatch = Callable[[str, int], None]  # (table, rows done so far): a test's way to interrupt


@dataclass
class Count:
    table: str
    source: int
    target: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


@dataclass
class CopyReport:
    source: str
    target: str
    counts: list[Count] = field(default_factory=list)
    documents_written: int = 0
    documents_skipped: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.counts)


@contextmanager
def _silent(table: str, total: int) -> Iterator[Advance]:
    yield lambda n: None


def copy_store(
    source_url: str, target_url: str, *, track: Track | None = None, after_batch: AfterBatch | None = None
) -> CopyReport:
    """Copy everything of the store at `source_url` into the one at `target_url` (migrated first);
    returns the per-table counts of both after the copy. A StoreError when both URLs name one
    store or the target holds a workspace not copied from this source."""
    if not source_url.strip() or not target_url.strip():
        raise StoreError("store copy needs both --from and --to (sqlite:///PATH or postgresql://...)")
    started = time.monotonic()
    src_at, dst_at = location(source_url, Path()), location(target_url, Path())  # (both given: no default)
    if src_at == dst_at:
        raise StoreError(f"store copy: --from and --to are the same store ({src_at})")
    report = CopyReport(src_at, dst_at)
    src, dst = open_store(source_url), open_store(target_url)
    src_rows, dst_rows = open_rows(source_url), open_rows(target_url)
    try:
        _claim_target(dst, dst_rows, src_at, dst_at)
        job = _Copy(src, dst, src_rows, dst_rows, track or _silent, after_batch or (lambda t, n: None))
        _copy_meta(src_rows, dst)
        report.documents_written, report.documents_skipped = job.documents()
        for table in TABLES:
            job.table(table)
        if job.learned():
            dst.set_meta("learned", str(int(dst.get_meta("learned") or 0) + 1))  # readers reload
        dst.set_meta(COPY_FROM, src_at)  # (SQLite: also rewrites the write stamp after the raw rows)
        report.counts = counts(src, dst, src_rows, dst_rows)
    finally:
        for closing in (src_rows, dst_rows, src, dst):
            closing.close()
    report.seconds = time.monotonic() - started
    return report


def _claim_target(dst: Store, rows: Rows, src_at: str, dst_at: str) -> None:
    """Refuse a target that holds another workspace; mark an empty one as this source's copy."""
    copied_from = dst.get_meta(COPY_FROM)
    if copied_from == src_at:
        return
    held = rows.count("documents") + rows.count("api_keys") + rows.count("traces") + rows.count("eval_runs")
    if held or copied_from is not None:
        why = f"was copied from {copied_from}" if copied_from else "is not empty"
        raise StoreError(f"store copy: the target {dst_at} {why}: copy into an empty database")
    dst.set_meta(COPY_FROM, src_at)


def _copy_meta(src_rows: Rows, dst: Store) -> None:
    meta = Table("meta", ("key", "value"), ("key",), "key", "key")
    for key, value in src_rows.read(meta):
        if key not in LOCAL_META and dst.get_meta(key) != value:
            dst.set_meta(key, value)


class _Copy:
    def __init__(self, src: Store, dst: Store, src_rows: Rows, dst_rows: Rows, track: Track, after: AfterBatch):
        self.src, self.dst, self.src_rows, self.dst_rows = src, dst, src_rows, dst_rows
        self.track, self.after = track, after

    def documents(self) -> tuple[int, int]:
        """Documents not yet in the target (same content hash and chunk count), in batches of one
        transaction each, with their stored vectors; then the failed manifest entries. Returns
        (written, skipped)."""
        docs = self.src.list_documents()
        have = {d.doc_id: (d.content_hash, d.n_chunks) for d in self.dst.list_documents()}
        todo = [d for d in docs if have.get(d.doc_id) != (d.content_hash, d.n_chunks)]
        with self.track("documents", len(docs)) as advance:
            advance(len(docs) - len(todo))
            if todo:
                ids, matrix = self.src.chunk_vectors()
                chunks = self._chunks_by_doc(ids, {d.doc_id for d in todo})
                for start in range(0, len(todo), DOC_BATCH):
                    batch = todo[start : start + DOC_BATCH]
                    writes = []
                    for doc in batch:
                        mine = sorted(chunks.get(doc.doc_id, []), key=lambda pair: pair[0].ordinal)
                        entry = self.src.manifest_entry(doc.source) or {}
                        vectors = matrix[[i for _, i in mine]] if mine else matrix[:0]
                        writes.append(
                            DocumentWrite(doc, [c for c, _ in mine], vectors, int(entry.get("mtime_ns") or 0))
                        )
                    self.dst.write_documents(writes)
                    advance(len(batch))
                    self.after("documents", len(docs) - len(todo) + start + len(batch))
        for source, error in self.src.failures():
            if (self.dst.manifest_entry(source) or {}).get("error") != error:
                self.dst.record_failure(source, error)
        return len(todo), len(docs) - len(todo)

    def _chunks_by_doc(self, ids: list[str], wanted: set[str]) -> dict[str, list[tuple[Chunk, int]]]:
        """(chunk, row of the vector matrix) of each wanted document's chunks."""
        row = {cid: i for i, cid in enumerate(ids)}
        out: dict[str, list[tuple[Chunk, int]]] = defaultdict(list)
        for start in range(0, len(ids), CHUNK_READ):
            for cid, stored in self.src.get_chunks(ids[start : start + CHUNK_READ]).items():
                if stored.chunk.doc_id in wanted:
                    out[stored.chunk.doc_id].append((stored.chunk, row[cid]))
        return out

    def table(self, table: Table) -> None:
        """Every row of `table` whose key the target lacks, BATCH rows per transaction."""
        with self.track(table.name, self.src_rows.count(table.name)) as advance:
            done, batch = 0, list[Row]()
            for row in self.src_rows.read(table):
                batch.append(row)
                if len(batch) == BATCH:
                    done += self._flush(table, batch, advance, done)
                    batch = []
            if batch:
                self._flush(table, batch, advance, done)

    def _flush(self, table: Table, batch: list[Row], advance: Advance, done: int) -> int:
        self.dst_rows.insert(table, batch)
        advance(len(batch))
        self.after(table.name, done + len(batch))
        return len(batch)

    def learned(self) -> int:
        """Learned versions with their marks, each in one transaction; how many were new."""
        versions = list(self.src_rows.read(LEARNED))
        new = 0
        with self.track("learned", len(versions)) as advance:
            for done, version in enumerate(versions, 1):
                marks = list(self.src_rows.read(LEARNED_MARKS, "WHERE version = %s", (version[0],)))
                new += self.dst_rows.insert_learned(version, marks)
                advance(1)
                self.after("learned", done)
        return new


def counts(src: Store, dst: Store, src_rows: Rows, dst_rows: Rows) -> list[Count]:
    """Source and target side by side: the documents' counts as the API gives them, every copied
    table's rows, and the workspace's meta keys (in the target with the same value)."""
    a, b = src.stats(), dst.stats()
    out = [Count(name, a[name], b[name]) for name in ("documents", "chunks", "vectors", "failed")]
    out.append(Count("manifest", src_rows.count("manifest"), dst_rows.count("manifest")))
    for table in [*TABLES, LEARNED, LEARNED_MARKS]:
        out.append(Count(table.name, src_rows.count(table.name), dst_rows.count(table.name)))
    meta = Table("meta", ("key", "value"), ("key",), "key", "key")
    kept = {k: v for k, v in src_rows.read(meta) if k not in LOCAL_META}
    out.append(Count("meta", len(kept), sum(dst.get_meta(k) == v for k, v in kept.items())))
    return out
