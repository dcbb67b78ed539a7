"""The tools and resources themselves, as plain functions of (workspace, arguments, caller).

A caller is the key's Principal (HTTP, or stdio started with --key) or None: the owner of the
data dir on stdio, who reads everything, as with the CLI. Every read goes through the REST API's
own pieces (routes.user_filters, result_json, answer_json), so a key sees over MCP exactly what
it sees over /v1, no more: its tenant, and within it the documents of its groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote

from pydantic import BaseModel, ConfigDict, Field

from ..errors import NotFoundError
from ..generate.followup import Turn
from ..models.types import CallContext
from ..observe import collecting_sent
from ..retrieve.retriever import MAX_QUERY_CHARS
from ..server.ask_stream import touched
from ..server.auth import Principal
from ..server.routes import Filters, HistoryTurn, answer_json, result_json, user_filters
from ..types import DocumentRecord
from ..workspace import Workspace

Caller = Principal | None
URI_PREFIX = "ragwright://documents/"
PAGE = 100  # resources per resources/list page


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "k": "5" is a mistake, as on /v1


class SearchArgs(Args):
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="What to look for, in plain words")
    k: int = Field(10, ge=1, le=100, description="How many passages to return")
    mode: Literal["hybrid", "bm25", "dense"] = Field("hybrid", description="hybrid (best), bm25 (words), dense")
    filters: Filters | None = Field(
        None, description="FIELD: VALUE (doc_id, source, format, title, metadata.KEY) to narrow the search"
    )


class AskArgs(Args):
    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="The question, in plain words")
    filters: Filters | None = Field(None, description="As for search: narrows what is read")
    history: list[HistoryTurn] = Field(
        default_factory=list, max_length=50, description="Earlier turns, oldest first: a follow-up is made standalone"
    )
    agent: bool = Field(
        False, description="The answer model searches as often as it needs, then answers; `agent` in the result"
    )
    max_steps: int | None = Field(
        None, ge=1, le=20, description="Fewer model turns for an agent than [answer] agent_max_steps (never more)"
    )


class ListArgs(Args):
    limit: int = Field(100, ge=1, le=1000, description="Documents per page")
    offset: int = Field(0, ge=0, le=2**62, description="Documents to skip (they are ordered by source)")


@dataclass(slots=True)
class Output:
    """A tool's JSON result, and the documents it showed (for the server's audit log)."""

    data: dict[str, Any]
    doc_ids: list[str] = field(default_factory=list)


def scoped(filters: dict[str, Any] | None, caller: Caller, data_dir: Path | None = None) -> dict[str, Any] | None:
    """The caller's filters plus its key's access (routes.user_filters, `source` as a key is shown
    it when the data dir is given); the owner's as given."""
    if caller is not None:
        return user_filters(filters, caller, data_dir)
    if filters and "access" in filters:
        raise ValueError("filters may not name 'access'")
    return dict(filters) if filters else None


def context_of(caller: Caller) -> CallContext | None:
    return CallContext.of_key(caller.key_id, caller.access) if caller is not None else None


def search(ws: Workspace, args: SearchArgs, caller: Caller) -> Output:
    filters = scoped(args.filters, caller, ws.settings.data_dir)
    results = ws.search(args.query, args.k, filters, mode=args.mode, context=context_of(caller))
    return Output({"results": [result_json(r) for r in results]}, list(dict.fromkeys(r.doc_id for r in results)))


def ask(ws: Workspace, args: AskArgs, caller: Caller) -> Output:
    history = [Turn(t.role, t.content) for t in args.history]
    with collecting_sent() as sent:
        answer = ws.ask(
            args.question,
            scoped(args.filters, caller, ws.settings.data_dir),
            context=context_of(caller),
            history=history,
            agent=args.agent,
            max_steps=args.max_steps,
        )
    return Output(answer_json(answer), touched(answer, sent))


def list_documents(ws: Workspace, args: ListArgs, caller: Caller) -> Output:
    """A page of the documents the caller may read, as GET /v1/documents gives it, with each one's URI."""
    access = scoped(None, caller)
    docs = ws.documents(access, args.limit, args.offset)
    total = ws.store.count_documents(access)
    more = args.offset + len(docs) < total
    return Output(
        {
            "documents": [{**d.to_dict(), "uri": uri_of(d.doc_id)} for d in docs],
            "total": total,
            "next_offset": args.offset + len(docs) if more else None,
        },
        [d.doc_id for d in docs],
    )


# -- resources: one per document ----------------------------------------------------------------


def uri_of(doc_id: str) -> str:
    return URI_PREFIX + quote(doc_id, safe="")


def document_page(ws: Workspace, offset: int, caller: Caller) -> tuple[list[DocumentRecord], int | None]:
    """A page of the caller's documents and the offset of the next page (None: the last one)."""
    access = scoped(None, caller)
    docs = ws.documents(access, PAGE + 1, offset)
    return docs[:PAGE], offset + PAGE if len(docs) > PAGE else None


def read_document(ws: Workspace, uri: str, caller: Caller) -> tuple[DocumentRecord, str]:
    """The document a URI names and its text, if the caller may read it. A document the caller may
    not read and one that does not exist give the same NotFoundError: existence is not revealed."""
    doc_id = unquote(uri[len(URI_PREFIX) :]) if uri.startswith(URI_PREFIX) else ""
    docs = ws.documents({**(scoped(None, caller) or {}), "doc_id": doc_id}) if doc_id else []
    if not docs:
        raise NotFoundError(f"no document '{uri}' (list them with resources/list or the list_documents tool)")
    return docs[0], stitch(ws.store.chunk_texts(docs[0].doc_id))


def stitch(chunks: list[str], longest: int = 4000) -> str:
    """A document's text from its chunks: neighbouring chunks of a section repeat a few words
    (ingest.chunk_overlap), which are kept once. Chunks that share nothing are joined by a blank line."""
    if not chunks:
        return ""
    text = chunks[0]
    for chunk in chunks[1:]:
        overlap = _overlap(text[-longest:], chunk)
        text += chunk[overlap:] if overlap else "\n\n" + chunk
    return text


def _overlap(tail: str, chunk: str, probe: int = 20) -> int:
    """The length of the longest end of `tail` that `chunk` starts with (at least `probe` characters):
    only where `chunk`'s first characters occur in `tail` is a longer match tried."""
    head = chunk[:probe]
    start = tail.find(head) if len(head) == probe else -1
    while start != -1:
        if chunk.startswith(tail[start:]):
            return len(tail) - start
        start = tail.find(head, start + 1)
    return 0
