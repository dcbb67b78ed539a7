"""Plain typed data that crosses package boundaries: ingest -> store -> retrieve -> generate."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Block:
    """One structural unit a parser found: a heading, a paragraph, a code block (its lines as
    written, never split into sentences) or a table (one row a line, cells joined by " | ").
    A heading with no text closes the sections of its level (a definition list's terms end)."""

    text: str
    kind: str = "paragraph"  # "heading" | "paragraph" | "code" | "table"
    level: int = 0  # heading level (1-6, deeper for terms of a definition list); 0 for the others
    page: int | None = None  # 1-based page number (PDF)
    header_rows: int = 0  # a table's leading header lines, repeated when the table is split


@dataclass(slots=True)
class ParsedDocument:
    """What a parser returns: a title and the document's blocks in reading order."""

    title: str
    blocks: list[Block]
    format: str


@dataclass(slots=True)
class Chunk:
    """A retrievable piece of a document, small enough for the embedder's window."""

    chunk_id: str
    doc_id: str
    ordinal: int
    text: str
    heading_path: list[str] = field(default_factory=list)
    page: int | None = None

    def context_text(self, title: str) -> str:
        """The text indexed and embedded: title and headings give a chunk its context."""
        parts = [title, *(h for h in self.heading_path if h != title)]
        head = " > ".join(p for p in parts if p)
        return f"{head}\n{self.text}" if head else self.text


def scope_part(name: str) -> str:
    """A tenant or group name as one part of a cache scope, which joins names by line (and groups
    by comma): unchanged unless it holds a backslash, comma or line break, which are escaped, so
    that no two lists of names join alike (a group "a\\nb" read as the groups a and b: review 13)."""
    if not any(c in name for c in "\\,\n"):
        return name
    return name.replace("\\", "\\\\").replace(",", "\\,").replace("\n", "\\n")


@dataclass(frozen=True, slots=True)
class Access:
    """Who may see a document, or who is asking: a tenant, and groups. A document with no
    groups is open to its whole tenant; otherwise a reader needs one of its groups (or admin)."""

    tenant: str = "default"
    groups: tuple[str, ...] = ()
    admin: bool = False

    def can_read(self, tenant: str, groups: tuple[str, ...] | list[str]) -> bool:
        """Whether this reader may see something owned by `tenant` and shared with `groups`."""
        return tenant == self.tenant and (self.admin or not groups or bool(set(groups) & set(self.groups)))

    def scope_groups(self) -> list[str]:
        """The groups as a cache scope names them: each escaped (scope_part), sorted."""
        return sorted(scope_part(g) for g in self.groups)


@dataclass(slots=True)
class DocumentRecord:
    """A document as the store keeps it."""

    doc_id: str
    source: str
    title: str
    format: str
    content_hash: str
    n_chunks: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    size: int = 0
    updated_at: str = ""
    tenant: str = "default"
    groups: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SearchResult:
    """One retrieved chunk with its fused score and the scores it was fused from."""

    doc_id: str
    chunk_id: str
    source: str
    score: float
    text: str
    title: str = ""
    heading_path: list[str] = field(default_factory=list)
    page: int | None = None
    bm25_rank: int | None = None
    dense_rank: int | None = None
    dense_score: float | None = None
    doc_version: str = ""  # its document's version as read (StoredChunk.version): what is made from it is held to it

    @property
    def location(self) -> str:
        """Where a person finds the passage: the source plus its heading path or page."""
        where = " > ".join(self.heading_path) if self.heading_path else ""
        if self.page is not None:
            where = f"page {self.page}" + (f", {where}" if where else "")
        return f"{self.source} ({where})" if where else self.source

    def to_dict(self) -> dict[str, Any]:
        """Field by field: asdict's deep copy cost a server more than the search's SQL (0.35 ms a request)."""
        return {
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "source": self.source,
            "score": self.score,
            "text": self.text,
            "title": self.title,
            "heading_path": list(self.heading_path),
            "page": self.page,
            "bm25_rank": self.bm25_rank,
            "dense_rank": self.dense_rank,
            "dense_score": self.dense_score,
            "doc_version": self.doc_version,
            "location": self.location,
        }


@dataclass(slots=True)
class Citation:
    n: int
    doc_id: str
    chunk_id: str
    source: str
    text: str
    score: float
    location: str = ""


@dataclass(slots=True)
class Answer:
    """An answer whose every sentence cites retrieved chunks, or an abstention that says why."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    mode: str = "extractive"  # "extractive" | "generated"
    reason: str = ""  # why it abstained, when it did
    removed_citations: list[dict[str, Any]] = field(default_factory=list)
    dropped_sentences: list[str] = field(default_factory=list)
    trace_id: str | None = None  # attach feedback to it
    guard: dict[str, Any] = field(default_factory=dict)  # the injection policy's findings, when one is on
    fallback: str = ""  # why a configured model's answer was not given (the extractive one was instead)
    agent: dict[str, Any] = field(default_factory=dict)  # an agent loop's status, steps and usage (generate/agent.py)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class FailedFile:
    path: str
    error: str


@dataclass(slots=True)
class SkippedFile:
    """A file found in a folder and left out on purpose (no parser reads its type)."""

    path: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    """The summary `ragwright ingest --json` prints."""

    ingested: int = 0
    unchanged: int = 0
    failed: list[FailedFile] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    chunks: int = 0
    pruned: int = 0
    doc_ids: list[str] = field(default_factory=list)
    # per document with findings: {"source", "secrets": {label: n}, "redacted_secrets": bool, "pii": {label: n},
    # "found": [{"type": "AWS access key", "label", "line", "page"}]} (each secret by type and where it is:
    # a report must not repeat what it found)
    flagged: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
