"""The store contract, split by concern: every caller types its store with the protocol of the
concern it uses, and every backend (store/sqlite.py, store/postgres/) implements `Store`, all of
them. Each method's docstring is its promise: atomicity, ordering, what a concurrent reader sees.
tests/store/contract/ checks both backends against it.

    documents.py   MetaStore, DocumentStore, SearchStore, CorpusStore (ingestion and retrieval)
    traces.py      TraceStore
    feedback.py    FeedbackStore, LearnedStore
    access.py      KeyStore, AuditStore, JobStore, RateLimitStore (the server)
    gateway.py     BudgetStore, CacheStore, GatewayStore (the model gateway)
    evaluation.py  EvalRunStore
    data.py        the values that cross it (DocumentWrite, StoredChunk, Filters, ...)

Open a store with store/factory.py's open_store(url): nothing outside store/ names a backend."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .access import AuditStore, JobStore, KeyStore, RateLimitStore
from .data import AuditEntry, BudgetCheck, DocumentWrite, Filters, LearnedStamp, StoredChunk, Traced, text_hash
from .documents import CorpusStore, DocumentStore, MetaStore, SearchStore
from .evaluation import EvalRunStore
from .feedback import FeedbackStore, LearnedStore
from .gateway import BudgetStore, CacheStore, GatewayStore
from .traces import TraceStore


@runtime_checkable
class Store(
    CorpusStore,
    TraceStore,
    FeedbackStore,
    LearnedStore,
    KeyStore,
    AuditStore,
    JobStore,
    RateLimitStore,
    GatewayStore,
    EvalRunStore,
    Protocol,
):
    """The whole contract: what a workspace, a server and the CLI hold."""


__all__ = [
    "AuditEntry",
    "AuditStore",
    "BudgetCheck",
    "BudgetStore",
    "CacheStore",
    "CorpusStore",
    "DocumentStore",
    "DocumentWrite",
    "EvalRunStore",
    "FeedbackStore",
    "Filters",
    "GatewayStore",
    "JobStore",
    "KeyStore",
    "LearnedStamp",
    "LearnedStore",
    "MetaStore",
    "RateLimitStore",
    "SearchStore",
    "Store",
    "StoredChunk",
    "TraceStore",
    "Traced",
    "text_hash",
]
