"""Parts the workspace builds for itself: its store as the settings configure it, and the answer
an ask gets when its reader may read nothing at all."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..config import PRIVATE_ENTITIES, Settings
from ..errors import StoreError
from ..models.chat import ChatModel, GatewayChat
from ..models.types import CallContext
from ..store.contract import Filters, Store
from ..store.factory import location, open_store
from ..types import Answer, SearchResult

if TYPE_CHECKING:
    from ..models.embedding import Embedder
    from ..models.gateway import Gateway


def workspace_store(settings: Settings) -> Store:
    """The store `[store] url` names (store/factory.py), with [observe]'s trace retention,
    redaction and OTLP export attached."""
    r, o = settings.retrieval, settings.observe
    store = open_store(
        settings.store.url,
        default_path=settings.db_path,
        ann_threshold=r.ann_threshold,
        bm25_k1=r.bm25_k1,
        bm25_b=r.bm25_b,
        statement_timeout_s=settings.store.statement_timeout_s,
    )
    store.trace_retention_days = o.retention_days
    store.trace_redactor = trace_redactor(settings)
    if o.otlp_endpoint:
        from ..observe.otlp import OtlpExporter

        store.trace_exporter = OtlpExporter(o.otlp_endpoint, o.otlp_headers, include_text=o.otlp_include_text).export
    return store


def workspace_embedder(settings: Settings, store: Store) -> Embedder:
    """The configured embedder. A local one runs the graph this store was indexed with, and a new
    store gets the fused int8 graph (models/embedding.choose_graph; RAGWRIGHT_EMBEDDING_GRAPH
    wins): changing the default never makes an existing index unreadable."""
    from ..guard.policy import Pseudonyms
    from ..models.embedding import UNKNOWN, make_embedder
    from ..models.private_embedding import private_embedder  # [embedding] privacy

    recorded = store.get_meta("embedder") if settings.embedding.provider == "local" else UNKNOWN
    return private_embedder(make_embedder(settings.embedding, indexed_with=recorded), settings, Pseudonyms)


def workspace_gateway(settings: Settings, store: Store, embedder: Embedder | None) -> Gateway:
    """The gateway with the guard's policy passed in (models/ never imports guard/); imported on
    first use, so a workspace that never calls a model never loads it."""
    from ..guard.policy import gateway_guards
    from ..models.gateway import Gateway

    return Gateway(settings, store, embedder=embedder, guards=gateway_guards())


def trace_redactor(settings: Settings) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """Traces keep what a redacting model was sent: with [observe] redact on (or "auto" and a
    model with privacy = "redact"), every text in a trace is redacted before it is stored (by
    the store's background writer, off the request's path)."""
    redacting = [m for m in settings.models.values() if m.privacy == "redact"]
    mode = settings.observe.redact
    if mode == "off" or (mode == "auto" and not redacting):
        return None
    from ..guard.redact import redact_strings

    entities = sorted({e for m in redacting for e in m.privacy_entities}) or list(PRIVATE_ENTITIES)
    return functools.partial(redact_strings, entities=entities)


def check_vector_space(store: Store, embedder: str, settings: Settings, writing: bool) -> None:
    """Vectors from two embedders cannot be compared: refuse rather than return nonsense. The
    first write records the embedder."""
    recorded = store.get_meta("embedder")
    if recorded is None:
        if writing:
            store.set_meta("embedder", embedder)
    elif recorded != embedder:
        from ..models.embedding import switch_hint

        where = location(settings.store.url, settings.db_path)
        raise StoreError(
            f"{where} was indexed with embedder '{recorded}', but "
            f"'{embedder}' is configured: set it back{switch_hint(recorded)}, or use a new --data-dir"
        )


def reader_context(context: CallContext | None, filters: Filters | None) -> CallContext | None:
    """A library call with no context but an access filter calls as that reader: its tenant in the
    trace, and its own cache scope (without it, every keyless caller of a tenant shared one, so a
    reader of other groups was served replies, or learnt of prompts, made for a board reader)."""
    access = (filters or {}).get("access")
    if context is not None or access is None:
        return context
    return CallContext.of_key(None, access)


def in_context(model: ChatModel | None, context: CallContext | None) -> ChatModel | None:
    """The answer model calling as `context`'s key and tenant (budgets, costs, caches, trace)."""
    if context is not None and isinstance(model, GatewayChat):
        return GatewayChat(model.gateway, model.name, context)
    return model


def hits(results: list[SearchResult]) -> list[dict[str, Any]]:
    """Search results as a trace records them: which chunk of which document, at what score."""
    return [{"doc_id": r.doc_id, "chunk_id": r.chunk_id, "score": r.score} for r in results]


def ask_output(answer: Answer, retrieved: list[SearchResult]) -> dict[str, Any]:
    """An ask's trace output: the answer, what it cites and what retrieval found."""
    return {
        "answer": answer.answer,
        "abstained": answer.abstained,
        "citations": [{"n": c.n, "doc_id": c.doc_id, "chunk_id": c.chunk_id} for c in answer.citations],
        "retrieved": hits(retrieved),
    }


def access_of(filters: Filters | None) -> Filters | None:
    """The access filter alone: whether the reader may read any document, whatever else is asked."""
    access = (filters or {}).get("access")
    return None if access is None else {"access": access}


def nothing_to_read(question: str, filters: Filters | None) -> Answer:
    """The abstention when the asker may read no document at all: an empty workspace, or a key of
    a tenant nothing was ingested into (the CLI ingests into tenant "default" unless --tenant)."""
    access = (filters or {}).get("access")
    if access is None:
        reason = "there are no documents yet (ingest some first: ragwright ingest PATH)"
    else:
        groups = ", ".join(access.groups) or "none"
        reason = (
            f"this tenant has no documents yet that this key may read (ingest some, or check the key's "
            f"tenant: '{access.tenant}', groups: {groups}; `ragwright ingest PATH --tenant {access.tenant}` "
            f"ingests for it)"
        )
    return Answer(question=question, answer=f"I cannot answer yet: {reason}.", abstained=True, reason=reason)
