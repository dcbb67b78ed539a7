"""The values that cross the store contract: what a write carries, what a read gives back, what a
filter says. Plain data, no backend: every backend and every caller shares these definitions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from ...types import Chunk, DocumentRecord

# A filter maps a field to a value or a list of allowed values. Fields: doc_id, source (glob
# patterns allowed), format, title, tenant, and metadata.KEY for any key of a document's metadata.
# The access filter (retrieve/retriever.py access_scope) is a filter like any other: a backend
# applies it before ranking, so what a reader may not read never takes a place in its top k.
Filters = Mapping[str, Any]

# (at, key_id, tenant, method, endpoint, status, doc_ids, latency_ms), then optionally (route,
# client, count): one request as server/audit.py records it, or `count` requests without a valid
# key folded into one row. endpoint is the path as sent and client the caller's address, both
# written clipped (clip_audit_text): an anonymous caller chooses them.
AuditEntry = (
    tuple[float, str | None, str | None, str, str, int, Sequence[str], float]
    | tuple[float, str | None, str | None, str, str, int, Sequence[str], float, str, str | None, int]
)
AUDIT_TEXT_MAX = 256  # characters of endpoint and route kept; method 16, client 64


def clip_audit_text(text: str, limit: int = AUDIT_TEXT_MAX) -> str:
    """`text` at most `limit` characters (a clipped one ends with ...), control and invisible
    characters escaped: a path is percent-decoded, and `ragwright audit` prints it to a terminal."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text[: limit * 2])
    return text if len(text) <= limit else text[: limit - 3] + "..."


class BudgetCheck(NamedTuple):
    """What a budget reservation checks (a plain 5-tuple without `counted` is one too). `column`
    is one of "key_id", "tenant", "route", "model", or "1" for every call; calls whose `column` is
    `subject` count, or, when `counted` is given, whose `column` is any of those (a route's budget
    also counts its models called by their own names)."""

    budget: str
    column: str
    subject: str | None
    since: float
    limit: float
    counted: tuple[str, ...] = ()


# (learned version stamp, write generation) as LearnedStore.learned_stamp gives it
LearnedStamp = tuple[str | None, str | None]

# The documents a cached reply or a trace was made from: doc ids, or doc_id -> the version read
# (StoredChunk.version), which the store then holds it to (store/quoted.py)
Quoted = Sequence[str] | Mapping[str, str]


def text_hash(text: str) -> str:
    """The key under which a chunk's vector can be reused when its indexed text has not changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(slots=True)
class StoredChunk:
    """A chunk as a read gives it back, with the source, title and version of its document. The
    version (its content hash, read in the same snapshot) is what a request that quotes the
    chunk hands back when it writes a trace or a cached reply (store/quoted.py): the store keeps
    neither when the document was replaced or deleted since."""

    chunk: Chunk
    source: str
    title: str
    version: str = ""


@dataclass(slots=True)
class DocumentWrite:
    """Everything one document turns into; a store writes it all or nothing."""

    document: DocumentRecord
    chunks: list[Chunk]
    vectors: np.ndarray  # (len(chunks), dim), L2-normalised float32
    mtime_ns: int = 0

    def document_row(self) -> tuple[Any, ...]:
        """The document's row as every backend writes it: doc_id, source, title, format,
        content_hash, size, n_chunks, metadata (JSON text), tenant, groups (sorted, each once)."""
        d = self.document
        groups = sorted(set(d.groups))
        return (
            d.doc_id,
            d.source,
            d.title,
            d.format,
            d.content_hash,
            d.size,
            len(self.chunks),
            json.dumps(d.metadata),
            d.tenant,
            groups,
        )


class Traced(Protocol):
    """What the store needs of a trace (observe.Trace): its JSON form."""

    def to_dict(self) -> dict[str, Any]: ...
