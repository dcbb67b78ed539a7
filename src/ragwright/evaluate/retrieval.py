"""Retrieval evaluation: run every query, rank documents (a document scores as its best chunk),
and compute the trec_eval measures."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from ..types import SearchResult
from .beir import BeirDataset
from .metrics import MEASURES, evaluate
from .runs import EvalRun

Search = Callable[[str], Sequence[SearchResult]]
SHOWN = 10  # documents kept per query for reports


def document_run(results: Sequence[SearchResult], depth: int = 100) -> dict[str, float]:
    """Chunks -> documents: each document takes the score of its best chunk; the top `depth` stay."""
    docs: dict[str, float] = {}
    for r in results:
        if r.doc_id not in docs:
            docs[r.doc_id] = float(r.score)
            if len(docs) == depth:
                break
    return docs


def evaluate_retrieval(
    dataset: BeirDataset, search: Search, *, pipeline: str, config: dict[str, Any] | None = None, fingerprint: str = ""
) -> EvalRun:
    started = time.perf_counter()
    run: dict[str, dict[str, float]] = {}
    titles: dict[str, str] = {}
    for qid, text in dataset.queries.items():
        results = search(text)
        run[qid] = document_run(results)
        for r in results[:50]:
            titles.setdefault(r.doc_id, r.title)
    metrics, per_query = evaluate(dataset.qrels, run)
    cases = {qid: _case(dataset.queries[qid], run.get(qid, {}), dataset.qrels[qid], titles) for qid in dataset.qrels}
    return EvalRun(
        kind="retrieval",
        dataset=dataset.name,
        split=dataset.split,
        pipeline=pipeline,
        dataset_hash=fingerprint or dataset.fingerprint(),
        metrics={k: round(v, 6) for k, v in metrics.items()},
        per_query=per_query,
        config=config or {},
        seconds=round(time.perf_counter() - started, 3),
        coverage={m: {"measured": len(per_query), "unmeasured": 0, "reasons": {}} for m in MEASURES},
        cases=cases,
    )


def _case(query: str, scores: dict[str, float], relevance: dict[str, int], titles: dict[str, str]) -> dict[str, Any]:
    top = sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:SHOWN]
    return {
        "query": query,
        "relevant": dict(relevance),
        "retrieved": [
            {"doc_id": d, "score": round(s, 6), "title": titles.get(d, ""), "grade": relevance.get(d, 0)}
            for d, s in top
        ],
    }
