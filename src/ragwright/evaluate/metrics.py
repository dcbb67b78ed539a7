"""Retrieval measures with trec_eval semantics (as pytrec_eval computes them):

- ranking: by score descending, ties broken by document id descending (trec_eval's order);
- relevant: qrel grade >= 1; nDCG gains are the grades themselves (not 2^g - 1);
- ndcg@k = DCG@k / IDCG@k with log2(rank + 1) discounts; recall@k; MRR@k (reciprocal rank of
  the first relevant document within k, else 0); MAP@k (average precision cut at k, divided by
  the number of relevant documents).

A query with no results scores 0; every query in the qrels counts, so nothing is averaged away.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]

MEASURES = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "map@100")


def ranked(scores: Mapping[str, float]) -> list[str]:
    return [doc for doc, _ in sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def query_measures(relevance: Mapping[str, int], scores: Mapping[str, float]) -> dict[str, float]:
    order = ranked(scores)
    relevant = {d for d, g in relevance.items() if g >= 1}
    n_rel = len(relevant)
    out: dict[str, float] = {}
    ideal = sorted((g for g in relevance.values() if g > 0), reverse=True)
    dcg = sum(relevance.get(d, 0) / math.log2(i + 2) for i, d in enumerate(order[:10]) if relevance.get(d, 0) > 0)
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal[:10]))
    out["ndcg@10"] = dcg / idcg if idcg > 0 else 0.0
    for k in (10, 100):
        out[f"recall@{k}"] = sum(1 for d in order[:k] if d in relevant) / n_rel if n_rel else 0.0
    out["mrr@10"] = next((1.0 / (i + 1) for i, d in enumerate(order[:10]) if d in relevant), 0.0)
    hits, precision_sum = 0, 0.0
    for i, d in enumerate(order[:100]):
        if d in relevant:
            hits += 1
            precision_sum += hits / (i + 1)
    out["map@100"] = precision_sum / n_rel if n_rel else 0.0
    return out


def evaluate(qrels: Qrels, run: Run) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean measures over every query in the qrels, and the per-query measures."""
    per_query = {q: query_measures(rel, run.get(q, {})) for q, rel in qrels.items()}
    n = len(per_query)
    means = {m: (sum(v[m] for v in per_query.values()) / n if n else 0.0) for m in MEASURES}
    return means, per_query
