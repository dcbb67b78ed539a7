"""Hybrid retrieval: BM25 and dense search over any Store, fused, then adjusted by what was learned
from feedback (see adapter.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..config import RetrievalSettings
from ..errors import QuestionError
from ..models.embedding import Embedder, recall_scope
from ..observe import span
from ..store.contract import CorpusStore, Filters
from ..types import SearchResult, scope_part
from .adapter import LearnedModel, LearnedVersion, active_model, tenant_of
from .fusion import reciprocal_rank_fusion, relative_score_fusion

MAX_QUERY_CHARS = 4000
RESERVE = 5  # results after the top k, for a reader that finds no sentence of the kind asked in them


def access_scope(filters: Filters | None) -> str:
    """Who a search is for, as a cache scope: what one reader's queries leave in a cache must
    not speed up, and so reveal, another's (see models.embedding.recall_scope)."""
    access = (filters or {}).get("access")
    if access is not None:
        groups = ",".join(access.scope_groups())
        return f"{scope_part(access.tenant)}\n{groups}\n{'admin' if access.admin else ''}"
    tenant = tenant_of(filters)
    return f"{scope_part(tenant)}\n" if tenant else ""


def check_query(query: str, max_chars: int = MAX_QUERY_CHARS) -> str:
    """An empty or huge query is a mistake worth a clear message, not a slow empty result."""
    text = (query or "").strip()
    if not text:
        raise QuestionError('the question is empty: ask something, e.g. "What is ...?"')
    if len(text) > max_chars:
        raise QuestionError(
            f"the question is {len(text):,} characters long; the limit is {max_chars:,} (answer.max_question_chars)"
        )
    return text


@dataclass(slots=True)
class Retrieval:
    """The fused results and, for answer generation and tracing, the query's embedding."""

    results: list[SearchResult]
    query_vector: np.ndarray
    # The next RESERVE results after the top k (hybrid searches only): what an extractive reader
    # may read when a question asks for a sentence of one role and the top k hold none
    # (generate/further.py). Not part of the ranking, and never shown as a search result.
    reserve: list[SearchResult] = field(default_factory=list)


class HybridRetriever:
    """`learned`: what `ragwright learn` made, applied to hybrid searches: "active" (the active
    version of `learned_from`, by default this store), None (retrieval as shipped) or a model."""

    def __init__(
        self,
        store: CorpusStore,
        embedder: Embedder,
        settings: RetrievalSettings,
        *,
        learned: LearnedVersion | LearnedModel | str | None = "active",
        learned_from: object = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings
        self.learned = learned
        self.learned_from = learned_from if learned_from is not None else store

    def learned_model(self) -> LearnedVersion | LearnedModel | None:
        if self.learned == "active":
            return active_model(self.learned_from)
        return self.learned if isinstance(self.learned, (LearnedVersion, LearnedModel)) else None

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: Filters | None = None,
        *,
        mode: str = "hybrid",
        max_chars: int = MAX_QUERY_CHARS,
    ) -> Retrieval:
        """mode: "hybrid" (default), "bm25" or "dense". Hybrid fuses the top `candidates` of each
        list (the depth its weights were tuned at), so it returns at most twice that many."""
        query = check_query(query, max_chars)
        k = k or self.settings.k
        depth = self.settings.candidates if mode == "hybrid" else max(self.settings.candidates, k)
        version = self.learned_model() if mode == "hybrid" else None
        learned = version.for_scope(access_scope(filters)) if version is not None else None  # its own scope's part
        with span("retrieve", query=query, mode=mode, k=k) as outer:
            with span("embed_query"), recall_scope(access_scope(filters)):
                vector = self.embedder.embed([query])[0] if mode != "bm25" else np.zeros(0, dtype=np.float32)
                dense_query = learned.adapt(vector) if learned is not None else vector
            with span("bm25", depth=depth) as s:
                bm25 = self.store.keyword_search(query, depth, filters) if mode != "dense" else []
                s.set(hits=len(bm25))
            with span("dense", depth=depth) as s:
                dense = self.store.vector_search(dense_query, depth, filters) if mode != "bm25" else []
                s.set(hits=len(dense))
            with span("fusion", method=self.settings.fusion if mode == "hybrid" else "none"):
                fused = self.fuse(mode, bm25, dense, depth)
            if learned is not None:
                with span("learned", version=learned.version, adapter=learned.W is not None) as s:
                    fused, moved = learned.rerank(fused, vector, access_scope(filters))
                    s.set(moved=moved)
            extra = RESERVE if mode == "hybrid" else 0
            fetched = self._results(fused[: k + extra], bm25, dense)
            top = {c for c, _ in fused[:k]}
            results = [r for r in fetched if r.chunk_id in top]
            reserve = [r for r in fetched if r.chunk_id not in top]
            outer.set(results=[{"chunk_id": r.chunk_id, "doc_id": r.doc_id, "score": r.score} for r in results])
        return Retrieval(results, vector, reserve)

    def fuse(
        self, mode: str, bm25: list[tuple[str, float]], dense: list[tuple[str, float]], depth: int
    ) -> list[tuple[str, float]]:
        weights = [self.settings.bm25_weight, self.settings.dense_weight]
        if mode == "hybrid" and self.settings.fusion == "rrf":
            return reciprocal_rank_fusion([[c for c, _ in bm25], [c for c, _ in dense]], weights, self.settings.rrf_k)
        if mode == "hybrid":
            return relative_score_fusion([bm25, dense], weights, depth)
        return bm25 or dense

    def _results(
        self, top: list[tuple[str, float]], bm25: list[tuple[str, float]], dense: list[tuple[str, float]]
    ) -> list[SearchResult]:
        bm25_rank = {c: i for i, (c, _) in enumerate(bm25, start=1)}
        dense_rank = {c: i for i, (c, _) in enumerate(dense, start=1)}
        dense_score = dict(dense)
        stored = self.store.get_chunks(c for c, _ in top)
        results = []
        for chunk_id, score in top:
            s = stored.get(chunk_id)
            if s is None:  # deleted between ranking and fetching
                continue
            results.append(
                SearchResult(
                    doc_id=s.chunk.doc_id,
                    chunk_id=chunk_id,
                    source=s.source,
                    score=round(float(score), 6),
                    text=s.chunk.text,
                    title=s.title,
                    heading_path=list(s.chunk.heading_path),
                    page=s.chunk.page,
                    bm25_rank=bm25_rank.get(chunk_id),
                    dense_rank=dense_rank.get(chunk_id),
                    dense_score=dense_score.get(chunk_id),
                    doc_version=s.version,
                )
            )
        return results
