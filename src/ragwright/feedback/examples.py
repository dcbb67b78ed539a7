"""The examples `ragwright learn` learns from: one per query and reader, with its latest marks.

Each example keeps who marked it (the key's tenant, groups and admin-ness, looked up by the
feedback's key id), because everything learned from it is scoped by that: the adapter and the
memory are learned per access scope from that scope's examples, and move results only for
readers of the same access. Feedback made by the operator (no key) belongs to its trace's
tenant's searches made without a key, or to no tenant (the operator's own searches)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..retrieve.adapter import chunk_doc
from ..retrieve.retriever import access_scope
from ..store.contract import DocumentStore, FeedbackStore, Filters
from ..types import Access

HELD_OUT = 0.2  # share of the queries with a relevant mark kept aside to measure


class KeyList(Protocol):
    def list_api_keys(self) -> list[dict[str, Any]]:
        """Every key, revoked ones included (see store/contract/access.py)."""


class ExampleSource(DocumentStore, FeedbackStore, KeyList, Protocol):
    """What collecting examples reads: feedback, the documents still stored, and the keys."""


@dataclass
class Example:
    query: str
    tenant: str | None
    marks: dict[str, float]  # chunk id or "doc:ID" -> +1 relevant / -1 not relevant
    access: Access | None = None  # the marking key's; None: the operator

    @property
    def relevant_docs(self) -> set[str]:
        return {ref[4:] if ref.startswith("doc:") else chunk_doc(ref) for ref, m in self.marks.items() if m > 0}

    @property
    def filters(self) -> Filters | None:
        """What the marking reader's searches are filtered by: validation searches as they did."""
        if self.access is not None:
            return {"access": self.access}
        return {"tenant": self.tenant} if self.tenant else None

    @property
    def scope(self) -> str:
        return access_scope(self.filters)

    @property
    def label(self) -> str:
        """The scope as a report names it."""
        if self.access is None:
            return f"{self.tenant} (without a key)" if self.tenant else "(no tenant)"
        groups = f" groups {','.join(sorted(self.access.groups))}" if self.access.groups else ""
        return f"{self.access.tenant}{groups}{' admin' if self.access.admin else ''}"


def normal(query: str) -> str:
    return " ".join(query.lower().split())


def merge_marks(marks: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Relevance marks (chunk_id or doc_id, relevant) -> ref -> +1 / -1, the last mark winning."""
    return {m.get("chunk_id") or "doc:" + str(m["doc_id"]): 1.0 if m["relevant"] else -1.0 for m in marks}


def key_access(store: KeyList) -> dict[str, Access]:
    """Key id -> the access it reads with (revoked keys included: their past feedback stays theirs)."""
    return {
        k["key_id"]: Access(k["tenant"], tuple(k["groups"]), admin="admin" in k["scopes"])
        for k in store.list_api_keys()
    }


def collect_examples(store: ExampleSource) -> tuple[list[Example], dict[str, int]]:
    """One example per (query, reader) with its latest marks; marks on documents that are no
    longer stored are dropped, marks on chunks that are gone fall back to their document.
    Feedback of a key the store no longer knows is left out: whose it was cannot be told."""
    rows = store.list_feedback()
    docs = {d.doc_id for d in store.list_documents()}
    keys = key_access(store)
    chunk_ids = {m["chunk_id"] for fb in rows for m in fb["marks"] if m.get("chunk_id")}
    chunks = set(store.get_chunks(chunk_ids)) if chunk_ids else set()
    counts = {"feedback": len(rows), "without_marks": 0, "marks_on_deleted_documents": 0, "unknown_keys": 0}
    by_query: dict[tuple[str, str], Example] = {}
    for fb in rows:  # oldest first: later marks overwrite earlier ones
        if not fb["marks"] or not fb["query"].strip():
            counts["without_marks"] += 1
            continue
        access = keys.get(fb["key_id"]) if fb.get("key_id") else None
        if fb.get("key_id") and access is None:
            counts["unknown_keys"] += 1
            continue
        live = []
        for m in fb["marks"]:
            if m.get("doc_id") not in docs:
                counts["marks_on_deleted_documents"] += 1
            elif m.get("chunk_id") and m["chunk_id"] not in chunks:
                live.append({"doc_id": m["doc_id"], "relevant": m["relevant"]})
            else:
                live.append(m)
        tenant = access.tenant if access is not None else fb.get("tenant")
        new = Example(fb["query"].strip(), tenant, {}, access)
        example = by_query.setdefault((normal(fb["query"]), new.scope), new)
        example.marks.update(merge_marks(live))
    examples = [e for e in by_query.values() if e.marks]
    return examples, counts


def held_out(examples: Sequence[Example]) -> list[int]:
    """Indices of the examples to measure on: a fifth of those with a relevant mark, by hash."""
    usable = [i for i, e in enumerate(examples) if e.relevant_docs]
    usable.sort(key=lambda i: hashlib.sha256(normal(examples[i].query).encode()).hexdigest())
    n = max(1, round(len(usable) * HELD_OUT))
    return sorted(usable[:n])
