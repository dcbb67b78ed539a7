"""Retrieval: BM25 + dense search over a Store, fused."""

from .fusion import reciprocal_rank_fusion, relative_score_fusion
from .retriever import HybridRetriever, Retrieval, check_query

__all__ = ["HybridRetriever", "Retrieval", "check_query", "reciprocal_rank_fusion", "relative_score_fusion"]
