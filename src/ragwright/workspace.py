"""The Python API in a few typed calls:

from ragwright import Workspace
ws = Workspace(".ragwright")
ws.ingest(["docs/"])
for hit in ws.search("vacation days", k=5):
    print(hit.score, hit.location)
print(ws.ask("How many vacation days do I get?").answer)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._workspace.ask import AskParts, agent_ask, plain_ask
from ._workspace.calibration import Calibrations, passages_naming
from ._workspace.evaluation import PIPELINES, EvalIndex, EvalParts, answers_run, eval_settings, retrieval_run
from ._workspace.parts import (
    check_vector_space,
    hits,
    in_context,
    nothing_to_read,
    reader_context,
    workspace_embedder,
    workspace_gateway,
    workspace_store,
)
from .config import Settings, load_settings
from .errors import NotFoundError
from .evaluate import EvalRun
from .feedback.dataset import run_tenant
from .generate import Answerer
from .generate.calibration import MARGIN_KEY, Calibration
from .generate.evidence import Evidence, embed, gather
from .generate.followup import Turn
from .generate.question import read_question
from .generate.refusal import Thresholds, Verdict, judge
from .ingest import Chunker, Ingestor, TextRecord
from .ingest.chunking import approx_token_count
from .models.chat import ChatModel, GatewayChat
from .models.embedding import Embedder, LocalMiniLM, recall_scope
from .models.types import CallContext
from .observe import muted, start_trace
from .retrieve import HybridRetriever, check_query
from .retrieve.retriever import Retrieval, access_scope
from .store.contract import Filters, Store
from .types import Access, Answer, DocumentRecord, IngestReport, SearchResult

if TYPE_CHECKING:
    from .models.gateway import Gateway

__all__ = ["PIPELINES", "Workspace", "nothing_to_read"]  # the last two kept importable from here


class Workspace:
    """One data directory: its store, embedder, retriever and answerer, loaded lazily."""

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        settings: Settings | None = None,
        config_file: Path | None = None,
        embedder: Embedder | None = None,
        chat_model: ChatModel | None = None,
    ) -> None:
        self.settings = settings or load_settings(config_file, Path(data_dir) if data_dir is not None else None)
        if settings is not None and data_dir is not None:
            self.settings.data_dir = Path(data_dir)
        self._embedder = embedder
        self._chat_model = chat_model
        self._store: Store | None = None
        self._gateway: Gateway | None = None
        self._gateway_lock = threading.Lock()
        self._learned_from: Store | None = None  # an evaluation index applies its parent's learning
        self._calibrations = Calibrations()

    # -- parts, built on first use -----------------------------------------------------------

    @property
    def store(self) -> Store:
        """The store `[store] url` names (store/factory.py), opened on first use."""
        if self._store is None:  # with [observe]'s trace retention, redaction and export (_workspace/parts.py)
            self._store = workspace_store(self.settings)
        return self._store

    @property
    def gateway(self) -> Gateway:
        """The workspace's one gateway: generated answers, evaluation judges and the server's chat
        endpoint share its circuit breakers, latency figures, caches and budgets."""
        with self._gateway_lock:
            if self._gateway is None:
                embedder = self.embedder if self.settings.gateway.semantic_cache else None
                self._gateway = workspace_gateway(self.settings, self.store, embedder)
            return self._gateway

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = workspace_embedder(self.settings, self.store)  # the graph its index was built with
        return self._embedder

    def _check_vector_space(self, writing: bool = False) -> None:
        """Vectors from two embedders cannot be compared: refuse rather than return nonsense."""
        check_vector_space(self.store, self.embedder.name, self.settings, writing)

    def _ingestor(self, access: Access | None = None) -> Ingestor:
        self._check_vector_space(writing=True)
        counter = self.embedder.count_tokens if isinstance(self.embedder, LocalMiniLM) else approx_token_count
        chunker = Chunker(
            counter,
            self.settings.ingest.chunk_tokens,
            self.settings.ingest.chunk_overlap,
            additive=counter is not approx_token_count,
        )
        return Ingestor(self.store, self.embedder, chunker, self.settings.ingest, access)

    # -- the API -------------------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | Path],
        *,
        prune: bool = False,
        progress: Callable[[float, str], None] | None = None,
        on_start: Callable[[int], None] | None = None,
        access: Access | None = None,
    ) -> IngestReport:
        """`access`: the tenant the documents belong to and the groups that may read them."""
        return self._ingestor(access).ingest_paths(list(paths), prune=prune, progress=progress, on_start=on_start)

    def ingest_records(
        self,
        records: Iterable[TextRecord],
        *,
        progress: Callable[[float, str], None] | None = None,
        access: Access | None = None,
    ) -> IngestReport:
        return self._ingestor(access).ingest_records(records, progress=progress)

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: Filters | None = None,
        mode: str = "hybrid",
        *,
        context: CallContext | None = None,
    ) -> list[SearchResult]:
        context = reader_context(context, filters)
        with self.trace("search", {"query": query, "k": k, "mode": mode}, context) as t:
            results = (
                self._retriever()
                .search(query, k, filters, mode=mode, max_chars=self.settings.answer.max_question_chars)
                .results
            )
            if t is not None:
                t.output = {"results": hits(results)}
        return results

    def ask(
        self,
        question: str,
        filters: Filters | None = None,
        *,
        context: CallContext | None = None,
        on_text: Callable[[str], None] | None = None,
        history: Sequence[Turn] = (),
        agent: bool = False,
        max_steps: int | None = None,
    ) -> Answer:
        """`context`: who asks (key, tenant), for the gateway's budgets, costs and caches, and the trace.
        `on_text`: receives a generated answer's draft as the model writes it; the answer returned
        is the checked one. `history`: the conversation before the question, oldest first: a
        follow-up is made standalone before retrieval, and the answer's `question` is that one.
        `agent`: the [answer] model searches as often as it needs, then answers (generate/agent.py),
        in at most `max_steps` turns ([answer] agent_max_steps)."""
        context = reader_context(context, filters)  # the steps: _workspace/ask.py
        if agent:
            return agent_ask(self._ask_parts(), question, filters, context, history, max_steps)
        return plain_ask(self._ask_parts(), question, filters, context, history, on_text)

    def _ask_parts(self) -> AskParts:
        """What an ask (_workspace/ask.py) takes from this workspace."""
        return AskParts(
            settings=self.settings,
            store=lambda: self.store,
            gateway=lambda: self.gateway,
            answer_model=self._answer_model,
            trace=self.trace,
            retrieve=self._retrieve,
            answer=self._answer,
        )

    def trace(self, name: str, input: dict[str, Any], context: CallContext | None = None) -> Any:
        """A trace of one request, saved in the store when it ends (unless [observe] traces = false)."""
        sink = self.store.save_trace if self.settings.observe.traces else None
        return start_trace(
            name,
            input=input,
            sink=sink,
            key_id=context.key_id if context else None,
            tenant=context.tenant if context else None,
        )

    def delete(self, ref: str) -> DocumentRecord:
        """Delete by document id or by path; everything derived from it goes too."""
        doc = self.store.get_document(ref) or self.store.document_by_source(ref)
        if doc is None:  # a path, relative or not, and perhaps already removed from disk
            doc = self.store.document_by_source(str(Path(ref).expanduser().resolve()))
        if doc is None:
            raise NotFoundError(f"no document with id or path '{ref}' (see: ragwright documents)")
        self.store.delete_document(doc.doc_id)
        return doc

    def evaluate_retrieval(
        self,
        data: str | Path,
        split: str = "test",
        pipeline: str = "default",
        progress: Callable[[float, str], None] | None = None,
        *,
        tenant: str | None = None,
    ) -> EvalRun:
        """Index a BEIR folder's corpus in its own store (reused while corpus and settings are
        unchanged), run its queries, store the run here and return it. `tenant`: whose run it is
        (over HTTP, only that tenant's admins read it; see feedback.dataset.run_tenant)."""
        run = retrieval_run(self._eval_parts(), data, split, pipeline, progress)
        self.store.save_eval_run({**run.to_dict(), "tenant": run_tenant(data, tenant)})
        return run

    def evaluate_answers(
        self,
        data: str | Path,
        split: str = "test",
        *,
        limit: int | None = None,
        judge_model: str | ChatModel | None = None,
        gold_file: Path | None = None,
        concurrency: int = 4,
        progress: Callable[[float, str], None] | None = None,
        tenant: str | None = None,
    ) -> EvalRun:
        """Ask every query of a BEIR folder (in the same index as retrieval evaluation) and score the
        answers; judge verdicts are cached in this store, so a re-run repeats them exactly."""
        run = answers_run(
            self._eval_parts(),
            data,
            split,
            limit=limit,
            judge_model=judge_model,
            gold_file=gold_file,
            concurrency=concurrency,
            progress=progress,
        )
        self.store.save_eval_run({**run.to_dict(), "tenant": run_tenant(data, tenant)})
        return run

    def _eval_parts(self) -> EvalParts:
        """What an evaluation run (_workspace/evaluation.py) takes from this workspace."""
        return EvalParts(
            settings=self.settings,
            store=lambda: self.store,
            gateway=lambda: self.gateway,
            trace=self.trace,
            answer_model=self._answer_model,
            index=self._eval_index,
        )

    def _eval_index(self, name: str, fingerprint: str, chat_model: ChatModel | None) -> EvalIndex:
        """A local, rebuildable index of an evaluation corpus that applies this workspace's learning."""
        settings = eval_settings(self.settings, name, fingerprint, self.embedder.name)
        index = Workspace(settings=settings, embedder=self.embedder, chat_model=chat_model)
        index._learned_from = self.store
        return EvalIndex(index, index._retriever)

    def documents(
        self, filters: Filters | None = None, limit: int | None = None, offset: int = 0
    ) -> list[DocumentRecord]:
        """Documents by source, optionally a page of them (`limit` from `offset`)."""
        return self.store.list_documents(filters, limit, offset)

    def close(self) -> None:
        if self._gateway is not None:  # with the store it keeps records in: a later call makes both anew
            if isinstance(self._chat_model, GatewayChat) and self._chat_model.gateway is self._gateway:
                self._chat_model = None
            self._gateway.close()
            self._gateway = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------

    def _retriever(self) -> HybridRetriever:
        self._check_vector_space()
        return HybridRetriever(self.store, self.embedder, self.settings.retrieval, learned_from=self._learned_from)

    def _retrieve(self, question: str, filters: Filters | None, k: int | None = None) -> Retrieval:
        """The one retrieval an ask reads, for a plain ask, the agent's searches, the agent's
        fallback and the refusal calibration's probes: `k` passages ([answer] context_chunks unless
        given), the question held to [answer] max_question_chars."""
        size = max(self.settings.answer.context_chunks, 1) if k is None else k
        return self._retriever().search(question, size, filters, max_chars=self.settings.answer.max_question_chars)

    def _answer(
        self,
        question: str,
        retrieval: Retrieval,
        filters: Filters | None,
        context: CallContext | None,
        *,
        on_text: Callable[[str], None] | None = None,
        extractive: bool = False,
    ) -> Answer:
        """The answer over a retrieval; sentence vectors are remembered for this reader only."""
        with recall_scope(access_scope(filters)):
            return self._answerer(context, filters, extractive=extractive).answer(question, retrieval, on_text)

    def _answer_model(self) -> ChatModel | None:
        """The model generated answers come from: the one given, else [answer] model through the gateway."""
        if self._chat_model is None and self.settings.answer.model:
            self._chat_model = GatewayChat(self.gateway, self.settings.answer.model)
        return self._chat_model

    def _answerer(
        self, context: CallContext | None = None, filters: Filters | None = None, extractive: bool = False
    ) -> Answerer:
        model = None if extractive else in_context(self._answer_model(), context)
        calibration = self.calibration(filters=filters) if self.settings.answer.abstain_threshold is None else None
        return Answerer(
            self.embedder,
            self.settings.answer,
            model,
            thresholds=calibration.thresholds if calibration else None,
            count=passages_naming(self.store, filters),
        )

    # -- refusal calibration (generate/calibration.py) ---------------------------------------------

    def calibration(self, refresh: bool = False, filters: Filters | None = None) -> Calibration | None:
        """How this corpus scores questions it cannot answer: made on first need (40 probe asks,
        about a second), kept in the store, made again when the corpus grew or shrank by more than
        a tenth or the tuned margin changed. None while the store is empty. Made per reader (the
        access filter's tenant and groups): the probes search what the reader may read only, so
        whether a question is refused never depends on text the reader cannot see."""
        return self._calibrations.get(self.store, self.embedder.name, self._evidence, filters, refresh)

    def set_refusal_margin(self, margin: float) -> Calibration | None:
        """Keep a tuned margin (`ragwright calibrate --data`): it outlives recalibrations."""
        self.store.set_meta(MARGIN_KEY, repr(float(margin)))
        return self.calibration(refresh=True)

    def refusal_check(self, question: str, filters: Filters | None = None) -> Verdict:
        """An ask's refusal checks with no similarity threshold: the best similarity, and whether
        another check (a name no passage mentions) refuses anyway. For calibration."""
        q = read_question(check_query(question, self.settings.answer.max_question_chars))
        with muted():
            evidence = self._evidence(q.text, filters)
        return judge(q, evidence, Thresholds(-2.0), passages_naming(self.store, filters))

    def _evidence(self, question: str, filters: Filters | None = None) -> list[Evidence]:
        """An ask's evidence with its best sentences embedded (as when refusing is in doubt)."""
        retrieval = self._retrieve(question, filters)
        evidence = gather(question, retrieval.results)
        embed(evidence, retrieval.query_vector, self.embedder)
        return evidence
