"""What retrieval learned from feedback (`ragwright learn`), applied to the default (hybrid) search.
A version holds one part per access scope (tenant, groups and admin-ness, as
`retriever.access_scope` writes it), learned from the feedback of readers of that scope only over
the chunks they may read, and applied to their searches only (the operator's searches without a
tenant, scope "", have a part of their own); a scope without a part searches as shipped. A part
has:

- a query adapter: the dense search looks with q' = normalize(q + W q) instead of the query's
  embedding q; documents' vectors are unchanged, so nothing is re-indexed;
- a feedback memory: the queries that received relevance marks (their embeddings) and the marks.
  A new query close to some of them (cosine >= `threshold`) moves the chunks marked relevant
  for them up, and those marked not relevant down, among the candidates it already has:
  fused(c) += weight * sum over its `neighbours` closest past queries n of
  (sim(q, n) - threshold) / (1 - threshold) * mark(n, c), mark +1 or -`negative`.

Only candidates the search found (BM25 or dense, with the caller's filters applied before
ranking) move, so a boost never brings in a document the caller may not see, nor a deleted one.
Why the exact scope and not the tenant: the adapter moves every query of whoever it is applied
to, so one learned from a group's marks lets that group steer what the tenant's other groups
read (a write key of one group marked its own upload relevant and had it ranked second for
another group's readers). Two readers of exactly the same groups and admin-ness read the same
documents and may move each other's results; nothing coarser is safe without deciding whose
feedback another reader may trust.

The active version is loaded once per store and reloaded when the store's `learned_stamp()`
changes (a version learned or rolled back, by any process, or documents written or deleted)."""

from __future__ import annotations

import io
import json
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..store.contract import LearnedStamp

Ranked = list[tuple[str, float]]
FORMAT = 3  # 1: one part for every tenant, 2: one per tenant; neither is applied (learn again)


@dataclass
class LearnedModel:
    """One access scope's part of a version: either half may be absent (W None, or no examples)."""

    W: np.ndarray | None = None  # (d, d) residual on the query embedding
    examples: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (n, d) unit rows
    scopes: list[str] = field(default_factory=list)  # per example: the marking key's access_scope
    marks: list[dict[str, float]] = field(default_factory=list)  # per example: chunk id or "doc:ID" -> +1 / -1
    params: dict[str, Any] = field(default_factory=dict)  # threshold, weight, negative, neighbours, embedder
    version: int | None = None
    kind: str = ""

    # -- applying -------------------------------------------------------------------------------

    @property
    def dim(self) -> int | None:
        if self.W is not None:
            return int(self.W.shape[0])
        return int(self.examples.shape[1]) if len(self.examples) else None

    def fits(self, vector: np.ndarray) -> bool:
        return self.dim is None or vector.shape[-1] == self.dim

    def adapt(self, vector: np.ndarray) -> np.ndarray:
        """The vector the dense search looks with."""
        if self.W is None or not self.fits(vector):
            return vector
        v = np.asarray(vector, dtype=np.float32)
        u = v + self.W @ v
        return (u / max(float(np.linalg.norm(u)), 1e-12)).astype(np.float32)

    def for_scope(self, scope: str) -> LearnedModel | None:
        """A bare part is applied as given (a version picks the scope's part)."""
        return self

    def boosts(self, vector: np.ndarray, scope: str = "") -> dict[str, float]:
        """Chunk id (or "doc:ID") -> how much the feedback memory moves it for this query, asked
        by a reader of access `scope` (the operator's: "")."""
        weight = float(self.params.get("weight", 0.0))
        if not len(self.examples) or weight <= 0 or not self.fits(vector):
            return {}
        theta = float(self.params.get("threshold", 0.7))
        negative = float(self.params.get("negative", 0.5))
        near = np.array([n for n, s in enumerate(self.scopes) if s == scope], dtype=np.int64)
        if not len(near):
            return {}
        sims = self.examples[near] @ np.asarray(vector, dtype=np.float32)
        neighbours = int(self.params.get("neighbours", 10))
        if len(sims) > neighbours:
            keep = np.argpartition(-sims, neighbours - 1)[:neighbours]
            near, sims = near[keep], sims[keep]
        out: dict[str, float] = {}
        for j in np.argsort(-sims, kind="stable"):
            if sims[j] < theta:
                break
            g = (float(sims[j]) - theta) / (1.0 - theta)
            for ref, mark in self.marks[near[j]].items():
                out[ref] = out.get(ref, 0.0) + weight * g * (mark if mark > 0 else mark * negative)
        return out

    def rerank(self, fused: Ranked, vector: np.ndarray, scope: str = "") -> tuple[Ranked, int]:
        """The fused candidates with the memory's boosts added, best first, and how many moved."""
        boosts = self.boosts(vector, scope)
        if not boosts:
            return fused, 0
        moved = 0
        out = []
        for chunk_id, score in fused:
            b = boosts.get(chunk_id, 0.0) + boosts.get("doc:" + chunk_doc(chunk_id), 0.0)
            moved += b != 0.0
            out.append((chunk_id, score + b))
        out.sort(key=lambda kv: -kv[1])  # stable: ties keep the fused order
        return out, moved


@dataclass
class LearnedVersion:
    """A stored version: one part per access scope ("" is the operator's searches without a tenant)."""

    parts: dict[str, LearnedModel] = field(default_factory=dict)
    embedder: str | None = None
    version: int | None = None
    kind: str = ""

    def for_scope(self, scope: str) -> LearnedModel | None:
        """The part learned from the feedback of readers of this access scope; None (as shipped)
        when it has none."""
        return self.parts.get(scope)

    @property
    def marks(self) -> list[dict[str, float]]:
        return [m for part in self.parts.values() for m in part.marks]

    def to_blob(self) -> bytes:
        """npz (no pickles): each part's W and example vectors, and the parameters as JSON. Marks
        are kept apart (as rows of the store, which go with their document when it is deleted)."""
        arrays: dict[str, np.ndarray] = {}
        meta = []
        for n, (scope, part) in enumerate(self.parts.items()):
            arrays[f"examples{n}"] = np.asarray(part.examples, dtype=np.float32)
            if part.W is not None:
                arrays[f"W{n}"] = np.asarray(part.W, dtype=np.float32)
            meta.append({"scope": scope, "kind": part.kind, "params": part.params, "scopes": part.scopes})
        buf = io.BytesIO()
        head = {"format": FORMAT, "embedder": self.embedder, "parts": meta}
        np.savez(buf, meta=np.array(json.dumps(head)), **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    def mark_rows(self) -> list[tuple[int, str, str | None, float]]:
        """(example, doc_id, chunk_id or None, mark) for the store; examples numbered across parts."""
        rows: list[tuple[int, str, str | None, float]] = []
        for n, marks in enumerate(self.marks):
            for ref, mark in marks.items():
                rows.append((n, ref[4:], None, mark) if ref.startswith("doc:") else (n, chunk_doc(ref), ref, mark))
        return rows

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> LearnedVersion:
        """A version of format 1 (one part for every tenant) or 2 (one per tenant) is read as
        nothing learned: applying it would let one tenant's, or one group's, feedback move
        another's results."""
        with np.load(io.BytesIO(stored["blob"]), allow_pickle=False) as data:
            head = json.loads(str(data["meta"]))
            arrays = {name: data[name] for name in data.files if name != "meta"}
        out = cls(version=stored.get("version"), kind=stored.get("kind", ""), embedder=head.get("embedder"))
        if head.get("format") in (1, 2):
            return out
        if head.get("format") != FORMAT:
            raise ValueError(
                f"learned version {stored.get('version')} has format {head.get('format')}, "
                f"this ragwright reads {FORMAT}"
            )
        offset = 0
        for n, meta in enumerate(head["parts"]):
            examples = arrays[f"examples{n}"]
            part = LearnedModel(
                W=arrays.get(f"W{n}"),
                examples=examples,
                scopes=list(meta["scopes"]),
                marks=[{} for _ in range(len(examples))],
                params=dict(meta["params"]),
                version=out.version,
                kind=meta.get("kind", ""),
            )
            for example, doc_id, chunk_id, weight in stored.get("marks", ()):
                if offset <= example < offset + len(examples):
                    part.marks[example - offset][chunk_id or "doc:" + doc_id] = float(weight)
            out.parts[meta["scope"]] = part
            offset += len(examples)
        return out


def tenant_of(filters: Mapping[str, Any] | None) -> str | None:
    """The tenant a request is made for: its access filter's, else a tenant filter's, else none."""
    if not filters:
        return None
    access = filters.get("access")
    if access is not None and getattr(access, "tenant", None):
        return str(access.tenant)
    tenant = filters.get("tenant")
    return tenant if isinstance(tenant, str) else None


Stamp = LearnedStamp  # (meta.learned, meta.generation)


@runtime_checkable
class LearnedVersions(Protocol):
    """The reads the adapter makes of a store that keeps learned versions: a part of the contract's
    LearnedStore and MetaStore (store/contract/), which state their promises. Kept this narrow
    because it is checked with isinstance on every search, and a check over the whole of
    LearnedStore costs twice as long (20 us against 9)."""

    def learned_stamp(self) -> Stamp: ...

    def active_learned(self) -> dict[str, Any] | None: ...

    def get_meta(self, key: str) -> str | None: ...


_cache: weakref.WeakKeyDictionary[LearnedVersions, tuple[Stamp, LearnedVersion | None]] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def active_model(store: object) -> LearnedVersion | None:
    """The store's active learned version, loaded once and reloaded when its stamp changes.
    A store that keeps no learned versions, or a version made for another embedder, gives None."""
    if not isinstance(store, LearnedVersions):
        return None
    stamp = store.learned_stamp()
    if stamp[0] is None:  # nothing was ever learned: the common case costs one small read
        return None
    with _cache_lock:
        held = _cache.get(store)
    if held is not None and held[0] == stamp:
        return held[1]
    stored = store.active_learned()
    model = LearnedVersion.from_stored(stored) if stored else None
    if model is not None and model.embedder not in (None, store.get_meta("embedder")):
        model = None  # vectors of another model: the adapter and memory mean nothing here
    with _cache_lock:
        _cache[store] = (stamp, model)
    return model


def summary(model: LearnedVersion | LearnedModel | None) -> dict[str, Any]:
    if model is None:
        return {"version": None}
    parts = model.parts if isinstance(model, LearnedVersion) else {"": model}
    return {
        "version": model.version,
        "kind": model.kind,
        "scopes": len(parts),
        "adapter": any(p.W is not None for p in parts.values()),
        "examples": sum(len(p.examples) for p in parts.values()),
        "marks": sum(len(m) for p in parts.values() for m in p.marks),
    }


def chunk_doc(chunk_id: str) -> str:
    """A chunk id is DOC_ID#N (see ingest.chunking)."""
    return chunk_id.rpartition("#")[0]
