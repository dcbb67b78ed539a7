"""The workspace's refusal calibrations (generate/calibration.py makes one): one per reader, kept
in the store's meta and in memory until the store's generation changes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from ..generate.calibration import MARGIN_KEY, META_KEY, Calibration, calibrate
from ..generate.evidence import Evidence
from ..generate.refusal import RARE_PASSAGES
from ..observe import muted
from ..retrieve.retriever import access_scope
from ..store.contract import Filters, Store

KEPT = 1024  # readers held in memory, the oldest dropped first: a bounded cache however many tenants ask

# (question, filters) -> an ask's evidence with its best sentences embedded
EvidenceOf = Callable[[str, Filters | None], list[Evidence]]


class Calibrations:
    """Per reader (the access filter's tenant and groups): the probes search what the reader may
    read only, so whether a question is refused never depends on text the reader cannot see."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[str | None, Calibration | None]] = {}  # scope -> (generation, it)

    def get(
        self, store: Store, embedder: str, evidence: EvidenceOf, filters: Filters | None, refresh: bool = False
    ) -> Calibration | None:
        """Made on first need, kept in the store, made again when the passages the reader may read
        grew or shrank by more than a tenth, the embedder changed or the tuned margin moved. None
        while the reader may read nothing."""
        scope = access_scope(filters)
        generation = store.get_meta("generation")
        kept = self._kept.get(scope)
        if refresh or kept is None or kept[0] != generation:
            probe_filters = reader_filters(filters)
            chunks = readable_chunks(store, probe_filters)
            held = _held(store, scope, chunks, embedder, lambda q: evidence(q, probe_filters), refresh)
            if len(self._kept) >= KEPT:
                self._kept.pop(next(iter(self._kept)))
            self._kept[scope] = kept = (generation, held if chunks else None)
        return kept[1]


def reader_filters(filters: Filters | None) -> Filters | None:
    """Who reads, without what they asked for: a calibration is kept per reader, so the probes
    must not search with the first asker's other filters (a `source`, a date), which would set
    the refusal thresholds of every later ask by that reader."""
    kept = {key: value for key, value in (filters or {}).items() if key in ("access", "tenant")}
    return kept or None


def readable_chunks(store: Store, filters: Filters | None) -> int:
    """How many passages the reader may read. Counted over the store (every tenant's), another
    tenant's size decided whether this reader's calibration was stale, and its refusals told that
    size apart."""
    if filters is None:
        return store.stats()["chunks"]
    return sum(d.n_chunks for d in store.list_documents(filters))


def _held(
    store: Store,
    scope: str,
    chunks: int,
    embedder: str,
    evidence: Callable[[str], list[Evidence]],
    refresh: bool,
) -> Calibration | None:
    """The stored calibration for `scope`, made anew (40 probe asks, about a second) when stale."""
    key = META_KEY if not scope else f"{META_KEY}:{hashlib.sha256(scope.encode()).hexdigest()[:16]}"
    held = Calibration.from_json(store.get_meta(key))
    tuned = store.get_meta(MARGIN_KEY)
    margin = float(tuned) if tuned is not None else None
    moved = held is not None and margin is not None and held.margin != margin
    if chunks and (refresh or moved or held is None or held.stale(chunks, embedder)):
        with muted():
            held = calibrate(evidence, chunks, embedder, margin)
        store.set_meta(key, held.to_json())
    return held


def passages_naming(store: Store, filters: Filters | None) -> Callable[[str], int]:
    """How many passages the reader may read name a word, counted to just past "rare": the refusal
    check that a name no passage mentions is refused (generate/refusal.py)."""
    return lambda word: len(store.keyword_search(word, RARE_PASSAGES + 1, filters))
