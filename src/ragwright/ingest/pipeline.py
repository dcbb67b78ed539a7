"""The ingestion pipeline: discover -> read -> parse -> chunk -> embed -> one transaction per
batch of whole documents. Unchanged files are skipped by content hash; changed files replace
their chunks atomically; unchanged chunks of a changed file reuse their vectors."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..config import IngestSettings
from ..models.embedding import Embedder
from ..store.contract import DocumentStore, DocumentWrite, text_hash
from ..types import Access, Block, Chunk, DocumentRecord, FailedFile, IngestReport, ParsedDocument
from .chunking import EXTRACTION_VERSION, Chunker
from .discover import discover
from .doc_ids import doc_id_for as doc_id_for  # re-exported: ragwright.ingest.doc_id_for
from .doc_ids import file_doc_id
from .limits import ParseLimits, parse_bounded
from .overlap import Overlapped, Stopped
from .parsers import ParseError
from .progress import BatchProgress, embed_in_slices
from .screening import screen_blocks

Progress = Callable[[float, str], None]  # (files advanced, in fractions while a batch embeds; current item)
FIRST_BATCH_CHUNKS = 64


@dataclass(slots=True)
class TextRecord:
    """A document given as text rather than a file (a corpus line, an API upload)."""

    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass(slots=True)
class _Pending:
    document: DocumentRecord
    chunks: list[Chunk]
    mtime_ns: int = 0
    reuse: dict[str, np.ndarray] = field(default_factory=dict)  # stored vectors by text hash


@dataclass(slots=True)
class _Embedded:
    """A batch whose chunks have their vectors, ready to be written."""

    batch: Sequence[_Pending]
    vectors: list[np.ndarray]
    share: BatchProgress


class _Batch:
    """Documents waiting to be embedded and written together, with their chunk count. A run's
    first batch holds at most FIRST_BATCH_CHUNKS, each next twice the last up to the window: the
    model starts on the first files while the rest are read and chunked (with a whole window first
    it waited for 512 chunks to be prepared, 3% of a 1,000-chunk ingest's time)."""

    def __init__(self, window: int) -> None:
        self.items: list[_Pending] = []
        self.chunks = 0
        self.window = window
        self.limit = min(window, FIRST_BATCH_CHUNKS)

    def add(self, pending: _Pending) -> bool:
        """Adds a document; True when the batch is full."""
        self.items.append(pending)
        self.chunks += len(pending.chunks)
        return self.chunks >= self.limit

    def take(self) -> list[_Pending]:
        items, self.items, self.chunks = self.items, [], 0
        self.limit = min(self.window, self.limit * 2)
        return items


class Ingestor:
    """Turns files and text records into stored, searchable documents."""

    def __init__(
        self,
        store: DocumentStore,
        embedder: Embedder,
        chunker: Chunker,
        settings: IngestSettings,
        access: Access | None = None,
    ) -> None:
        self.store = store
        self.access = access or Access()
        self.embedder = embedder
        self.chunker = chunker
        self.settings = settings
        # Chunks embedded (sorted by length: less padding) and committed together. Larger batches
        # embed faster; an interruption loses at most one batch of work.
        self.window_chunks = settings.batch_chunks
        # Part of every content hash: changing how text is parsed, chunked or embedded re-ingests it all.
        recipe = (
            f"{EXTRACTION_VERSION}/{chunker.max_tokens}/{chunker.overlap_tokens}/{embedder.name}/"
            f"{getattr(embedder, 'max_tokens', '')}"
        )
        if settings.secrets == "redact" or settings.redact_pii != "off":  # what is stored depends on it too
            recipe += f"/{settings.secrets}/{settings.redact_pii}/{','.join(sorted(settings.pii_entities))}"
        if self.access != Access():  # who may see a document is part of what was ingested
            recipe += f"/{self.access.tenant}/{','.join(sorted(self.access.groups))}"
        self.recipe = hashlib.sha256(recipe.encode()).hexdigest()[:8]

    def ingest_paths(
        self,
        paths: Iterable[str | Path],
        *,
        prune: bool = False,
        progress: Progress | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> IngestReport:
        found = discover(paths, self.settings.include, self.settings.exclude)
        report = IngestReport(failed=list(found.failed), skipped=list(found.skipped))
        if on_start:
            on_start(len(found.files))
        batch = _Batch(self.window_chunks)
        write = partial(self._write, report=report)
        with Overlapped[list[_Pending], _Embedded | None](self._embed_batch, write, progress) as flusher:
            for path in found.files:
                pending = self._prepare_file(path, report)
                if pending is None and progress:  # unchanged or failed: done now; the others once stored
                    progress(1, path.name)
                if pending is not None and batch.add(pending):
                    flusher.submit(self._ready(batch.take()))
                flusher.report()
            flusher.last(self._ready(batch.take()))
        if prune:
            report.pruned = self._prune(found.roots, {str(p) for p in found.files})
        return report

    def ingest_records(self, records: Iterable[TextRecord], *, progress: Progress | None = None) -> IngestReport:
        report = IngestReport()
        batch = _Batch(self.window_chunks)
        embed, write = partial(self._embed_batch, quiet=True), partial(self._write, report=report)
        with Overlapped[list[_Pending], _Embedded | None](embed, write, progress) as flusher:
            self._records(records, report, batch, flusher, progress)
            flusher.last(self._ready(batch.take()))
        return report

    def _records(
        self,
        records: Iterable[TextRecord],
        report: IngestReport,
        batch: _Batch,
        flusher: Overlapped[list[_Pending], _Embedded | None],
        progress: Progress | None,
    ) -> None:
        """Each record prepared (a record counts as done once prepared), full batches handed on."""
        for rec in records:
            source = rec.source or rec.id
            payload = json.dumps([rec.title, rec.text, rec.metadata], sort_keys=True, default=str)
            digest = hashlib.sha256(payload.encode("utf-8")).hexdigest() + ":" + self.recipe
            current = self.store.get_document(rec.id)
            owner = self.store.document_by_source(source)
            if owner is not None and owner.doc_id != rec.id:
                report.failed.append(FailedFile(source, f"source already belongs to document '{owner.doc_id}'"))
            elif current is not None and current.content_hash == digest and current.source == source:
                report.unchanged += 1
            else:
                blocks = [Block(p) for p in rec.text.split("\n\n") if p.strip()] or [Block(rec.text)]
                blocks = screen_blocks(blocks, source, self.settings, report)
                doc = DocumentRecord(
                    rec.id,
                    source,
                    rec.title,
                    "text",
                    digest,
                    metadata=rec.metadata,
                    size=len(rec.text.encode("utf-8")),
                    tenant=self.access.tenant,
                    groups=list(self.access.groups),
                )
                chunks = self.chunker.chunk(rec.id, blocks, rec.title)
                if not chunks:
                    report.failed.append(FailedFile(source, "no text to index"))
                elif batch.add(_Pending(doc, chunks)):
                    flusher.submit(self._ready(batch.take()))
            if progress:
                progress(1, rec.id)
            flusher.report()

    def _prepare_file(self, path: Path, report: IngestReport) -> _Pending | None:
        source = str(path)
        try:
            st = path.stat()
            limit = int(self.settings.max_file_mb * 1024 * 1024)
            if st.st_size > limit:
                raise ParseError(
                    f"file is {st.st_size / 1048576:.1f} MB, over the limit of "
                    f"{self.settings.max_file_mb:g} MB (ingest.max_file_mb)"
                )
            entry = self.store.manifest_entry(source) or {}  # {}: never ingested
            same_recipe = entry.get("status") == "ok" and str(entry["content_hash"]).endswith(self.recipe)
            if same_recipe and entry["size"] == st.st_size and entry["mtime_ns"] == st.st_mtime_ns:
                report.unchanged += 1
                return None
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest() + ":" + self.recipe
            if entry and entry["status"] == "ok" and entry["content_hash"] == digest:
                report.unchanged += 1
                return None
            parsed = parse_bounded(path, data, ParseLimits.of(self.settings))  # DOCX, PDF: in a child process
            return self._pending(source, parsed, digest, len(data), st.st_mtime_ns, report)
        except ParseError as exc:
            error = str(exc)
        except PermissionError:
            error = "permission denied: cannot read this file"
        except IsADirectoryError:
            error = "is a folder"
        except OSError as exc:
            error = f"cannot read: {exc.strerror or exc}"
        except RecursionError:
            error = "document nesting too deep to parse"
        except Exception as exc:  # noqa: BLE001 - a parser library's surprise must not stop the other files
            error = f"cannot parse: {type(exc).__name__}: {exc}"
        report.failed.append(FailedFile(source, error))
        self.store.record_failure(source, error)
        return None

    def _pending(
        self, source: str, parsed: ParsedDocument, digest: str, size: int, mtime_ns: int, report: IngestReport
    ) -> _Pending:
        doc_id = file_doc_id(self.store, source)  # keyed: no path in it (doc_ids.py)
        chunks = self.chunker.chunk(doc_id, screen_blocks(parsed.blocks, source, self.settings, report), parsed.title)
        if not chunks:
            raise ParseError("no text to index (only headings or whitespace)")
        doc = DocumentRecord(
            doc_id,
            source,
            parsed.title,
            parsed.format,
            digest,
            len(chunks),
            {},
            size,
            tenant=self.access.tenant,
            groups=list(self.access.groups),
        )
        return _Pending(doc, chunks, mtime_ns)

    def _ready(self, items: list[_Pending]) -> list[_Pending]:
        """Each document's reusable vectors, looked up here on the caller's thread: on the worker
        the lookup waited for the store's lock while the caller wrote the batch before."""
        for p in items:
            p.reuse = self.store.reusable_vectors(p.document.doc_id)
        return items

    def _embed_batch(
        self, batch: Sequence[_Pending], progress: Progress | None, stopped: threading.Event, *, quiet: bool = False
    ) -> _Embedded | None:
        """Embeds one batch (on overlap.Overlapped's worker, or the caller's thread for a lone
        batch); `stopped`: the caller failed, so the batch is dropped at its next slice."""
        if not batch:
            return None
        share = BatchProgress(None if quiet else progress, len(batch), Path(batch[-1].document.source).name)
        watch = share.on_embedded  # see progress.py

        def unless_stopped() -> None:
            if stopped.is_set():
                raise Stopped("ingestion stopped: this batch is not written")

        def embedded(done: int, total: int) -> None:
            unless_stopped()
            if watch is not None:
                watch(done, total)

        vectors = self._embed(batch, embedded if watch is not None else None)
        unless_stopped()
        return _Embedded(batch, vectors, share)

    def _write(self, done: _Embedded | None, *, report: IngestReport) -> None:
        """One batch's documents in one transaction (on the caller's thread, in order)."""
        if done is None:
            return
        writes = [
            DocumentWrite(p.document, p.chunks, v, p.mtime_ns) for p, v in zip(done.batch, done.vectors, strict=True)
        ]
        self.store.write_documents(writes)
        for p in done.batch:
            report.ingested += 1
            report.chunks += len(p.chunks)
            report.doc_ids.append(p.document.doc_id)
        done.share.stored()

    def _embed(
        self, batch: Sequence[_Pending], on_embedded: Callable[[int, int], None] | None = None
    ) -> list[np.ndarray]:
        """Embed every chunk of the batch in one call, except those whose text the store already has."""
        texts: list[str] = []
        slots: list[list[np.ndarray | int]] = []
        for p in batch:
            row: list[np.ndarray | int] = []
            for chunk in p.chunks:
                text = chunk.context_text(p.document.title)
                vec = p.reuse.get(text_hash(text))
                if vec is None:
                    row.append(len(texts))
                    texts.append(text)
                else:
                    row.append(vec)
            slots.append(row)
        fresh = embed_in_slices(self.embedder, texts, on_embedded) if texts else np.zeros((0, 0), dtype=np.float32)
        out = []
        for row in slots:
            vecs = [fresh[s] if isinstance(s, int) else s for s in row]
            out.append(np.vstack(vecs).astype(np.float32) if vecs else np.zeros((0, 0), dtype=np.float32))
        return out

    def _prune(self, roots: list[Path], present: set[str]) -> int:
        """Drop documents under the walked folders whose files are gone."""
        removed = 0
        for doc in self.store.list_documents():
            path = Path(doc.source)
            if doc.source in present or not any(path.is_relative_to(r) for r in roots):
                continue
            try:
                gone = not path.exists()
            except OSError:
                gone = False  # unreadable is not gone: keep it
            if gone:
                removed += int(self.store.delete_document(doc.doc_id))
        return removed
