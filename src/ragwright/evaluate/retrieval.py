"""Retrieval evaluation: run every query, rank documents (a document scores as its best chunk),
and compute the trec_eval measures."""

from __future__ import annotations

import time
from typing import Callable, Sequence

from ..types import SearchResult
from .beir import BeirDataset
from .metrics import evaluate
from .runs import EvalRun

Search = Callable[[str], Sequence[SearchResult]]


def document_run(results: Sequence[SearchResult], depth: int = 100) -> dict[str, float]:
    """Chunks -> documents: each document takes the score of its best chunk; the top `depth` stay."""
    docs: dict[str, float] = {}
    for r in results:
        if r.doc_id not in docs:
            docs[r.doc_id] = float(r.score)
            if len(docs) == depth:
                break
    return docs


def evaluate_retrieval(dataset: BeirDataset, search: Search, *, pipeline: str, config: dict | None = None,
                       fingerprint: str = "") -> EvalRun:
    started = time.perf_counter()
    run = {qid: document_run(search(text)) for qid, text in dataset.queries.items()}
    metrics, per_query = evaluate(dataset.qrels, run)
    return EvalRun(kind="retrieval", dataset=dataset.name, split=dataset.split, pipeline=pipeline,
                   dataset_hash=fingerprint or dataset.fingerprint(), metrics={k: round(v, 6) for k, v in metrics.items()},
                   per_query=per_query, config=config or {}, seconds=round(time.perf_counter() - started, 3))
