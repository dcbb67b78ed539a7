"""What retrieval learned from feedback (`ragwright learn`), applied to the default (hybrid) search:

- a query adapter: the dense search looks with q' = normalize(q + W q) instead of the query's
  embedding q; documents' vectors are unchanged, so nothing is re-indexed;
- a feedback memory: the queries that received relevance marks (their embeddings) and the marks.
  A new query close to some of them (cosine >= `threshold`) moves the chunks marked relevant
  for them up, and those marked not relevant down, among the candidates it already has:
  fused(c) += weight * sum over its `neighbours` closest past queries n of
  (sim(q, n) - threshold) / (1 - threshold) * mark(n, c), mark +1 or -`negative`.

Only candidates the search found (BM25 or dense, with the caller's filters applied before
ranking) move, so a boost never brings in a document the caller may not see, nor a deleted one.
A past query applies to requests of its own tenant (or to all, when it had none).

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
FORMAT = 1


@dataclass
class LearnedModel:
    """A learned version: either part may be absent (W None, or no examples)."""

    W: np.ndarray | None = None  # (d, d) residual on the query embedding
    examples: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # (n, d) unit rows
    tenants: list[str | None] = field(default_factory=list)  # per example
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

    def boosts(self, vector: np.ndarray, tenant: str | None = None) -> dict[str, float]:
        """Chunk id (or "doc:ID") -> how much the feedback memory moves it for this query."""
        weight = float(self.params.get("weight", 0.0))
        if not len(self.examples) or weight <= 0 or not self.fits(vector):
            return {}
        theta = float(self.params.get("threshold", 0.7))
        negative = float(self.params.get("negative", 0.5))
        near = np.arange(len(self.examples))
        if tenant is not None and self.tenants:
            near = np.array([n for n, t in enumerate(self.tenants) if t in (None, tenant)], dtype=np.int64)
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

    def rerank(self, fused: Ranked, vector: np.ndarray, tenant: str | None = None) -> tuple[Ranked, int]:
        """The fused candidates with the memory's boosts added, best first, and how many moved."""
        boosts = self.boosts(vector, tenant)
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

    # -- storing --------------------------------------------------------------------------------

    def to_blob(self) -> bytes:
        """npz (no pickles): W, the example vectors, and the parameters as JSON. Marks are kept
        apart (as rows of the store, which go with their document when it is deleted)."""
        buf = io.BytesIO()
        examples = np.asarray(self.examples, dtype=np.float32)
        meta = np.array(json.dumps({"format": FORMAT, "params": self.params, "tenants": self.tenants}))
        if self.W is None:
            np.savez(buf, examples=examples, meta=meta)
        else:
            np.savez(buf, examples=examples, meta=meta, W=np.asarray(self.W, dtype=np.float32))
        return buf.getvalue()

    def mark_rows(self) -> list[tuple[int, str, str | None, float]]:
        """(example, doc_id, chunk_id or None, mark) for the store."""
        rows: list[tuple[int, str, str | None, float]] = []
        for n, marks in enumerate(self.marks):
            for ref, mark in marks.items():
                if ref.startswith("doc:"):
                    rows.append((n, ref[4:], None, mark))
                else:
                    rows.append((n, chunk_doc(ref), ref, mark))
        return rows

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> LearnedModel:
        with np.load(io.BytesIO(stored["blob"]), allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError(
                    f"learned version {stored.get('version')} has format {meta.get('format')}, "
                    f"this ragwright reads {FORMAT}"
                )
            W = data["W"] if "W" in data.files else None
            examples = data["examples"]
        marks: list[dict[str, float]] = [{} for _ in range(len(examples))]
        for example, doc_id, chunk_id, weight in stored.get("marks", ()):
            if 0 <= example < len(marks):
                marks[example][chunk_id or "doc:" + doc_id] = float(weight)
        return cls(
            W=W,
            examples=examples,
            tenants=list(meta.get("tenants") or [None] * len(examples)),
            marks=marks,
            params=dict(meta.get("params") or {}),
            version=stored.get("version"),
            kind=stored.get("kind", ""),
        )


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


_cache: weakref.WeakKeyDictionary[LearnedVersions, tuple[Stamp, LearnedModel | None]] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def active_model(store: object) -> LearnedModel | None:
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
    model = LearnedModel.from_stored(stored) if stored else None
    if model is not None and model.params.get("embedder") not in (None, store.get_meta("embedder")):
        model = None  # vectors of another model: the adapter and memory mean nothing here
    with _cache_lock:
        _cache[store] = (stamp, model)
    return model


def summary(model: LearnedModel | None) -> dict[str, Any]:
    if model is None:
        return {"version": None}
    return {
        "version": model.version,
        "kind": model.kind,
        "adapter": model.W is not None,
        "examples": len(model.examples),
        "marks": sum(len(m) for m in model.marks),
    }


def chunk_doc(chunk_id: str) -> str:
    """A chunk id is DOC_ID#N (see ingest.chunking)."""
    return chunk_id.rpartition("#")[0]
