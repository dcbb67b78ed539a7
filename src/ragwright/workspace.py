"""The Python API in a few typed calls:

from ragwright import Workspace
ws = Workspace(".ragwright")
ws.ingest(["docs/"])
for hit in ws.search("vacation days", k=5):
    print(hit.score, hit.location)
print(ws.ask("How many vacation days do I get?").answer)
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import PRIVATE_ENTITIES, Settings, load_settings
from .errors import ConfigError, NotFoundError, StoreError
from .evaluate import EvalRun, Judge, evaluate_answers, evaluate_retrieval, find_gold, load_beir, load_gold
from .generate import Answerer
from .generate.agent import Agent, steps_json
from .generate.calibration import MARGIN_KEY, META_KEY, Calibration, calibrate
from .generate.evidence import Evidence, embed, gather
from .generate.followup import Turn, standalone_question
from .generate.question import read_question
from .generate.refusal import RARE_PASSAGES, Thresholds, Verdict, judge
from .ingest import Chunker, Ingestor, TextRecord
from .ingest.chunking import approx_token_count
from .models.chat import ChatMessage, ChatModel, GatewayChat
from .models.embedding import Embedder, LocalMiniLM, make_embedder, recall_scope
from .models.types import CallContext
from .observe import muted, start_trace
from .retrieve import HybridRetriever, check_query
from .retrieve.adapter import summary as learned_summary
from .retrieve.retriever import access_scope
from .store.contract import Filters, Store
from .store.factory import location, open_store
from .types import Access, Answer, DocumentRecord, IngestReport, SearchResult

if TYPE_CHECKING:
    from .models.gateway import Gateway


# Evaluation pipelines: "default" is the configured search; "hybrid" is classic equal-weight RRF,
# the fusion most frameworks use, kept as a reference point.
PIPELINES = ("default", "hybrid", "bm25", "dense")


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
        self._calibrations: dict[str, tuple[str | None, Calibration | None]] = {}  # scope -> (generation, it)

    # -- parts, built on first use -----------------------------------------------------------

    @property
    def store(self) -> Store:
        """The store `[store] url` names (store/factory.py), opened on first use."""
        if self._store is None:
            r = self.settings.retrieval
            self._store = open_store(
                self.settings.store.url,
                default_path=self.settings.db_path,
                ann_threshold=r.ann_threshold,
                bm25_k1=r.bm25_k1,
                bm25_b=r.bm25_b,
            )
            self._store.trace_retention_days = self.settings.observe.retention_days
            self._store.trace_redactor = self._trace_redactor()
            o = self.settings.observe
            if o.otlp_endpoint:
                from .observe.otlp import OtlpExporter

                self._store.trace_exporter = OtlpExporter(
                    o.otlp_endpoint, o.otlp_headers, include_text=o.otlp_include_text
                ).export
        return self._store

    def _trace_redactor(self) -> Any:
        """Traces keep what a redacting model was sent: with [observe] redact on (or "auto" and a
        model with privacy = "redact"), every text in a trace is redacted before it is stored (by
        the store's background writer, off the request's path)."""
        redacting = [m for m in self.settings.models.values() if m.privacy == "redact"]
        mode = self.settings.observe.redact
        if mode == "off" or (mode == "auto" and not redacting):
            return None
        from .guard.redact import redact_strings

        entities = sorted({e for m in redacting for e in m.privacy_entities}) or list(PRIVATE_ENTITIES)
        return functools.partial(redact_strings, entities=entities)

    @property
    def gateway(self) -> Gateway:
        """The workspace's one gateway: generated answers, evaluation judges and the server's chat
        endpoint share its circuit breakers, latency figures, caches and budgets."""
        with self._gateway_lock:
            if self._gateway is None:
                from .guard.policy import gateway_guards
                from .models.gateway import Gateway

                embedder = self.embedder if self.settings.gateway.semantic_cache else None
                self._gateway = Gateway(self.settings, self.store, embedder=embedder, guards=gateway_guards())
            return self._gateway

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.settings.embedding)
        return self._embedder

    def _check_vector_space(self, writing: bool = False) -> None:
        """Vectors from two embedders cannot be compared: refuse rather than return nonsense."""
        recorded = self.store.get_meta("embedder")
        if recorded is None:
            if writing:
                self.store.set_meta("embedder", self.embedder.name)
        elif recorded != self.embedder.name:
            where = location(self.settings.store.url, self.settings.db_path)
            raise StoreError(
                f"{where} was indexed with embedder '{recorded}', but "
                f"'{self.embedder.name}' is configured: set it back, or use a new --data-dir"
            )

    def _ingestor(self, access: Access | None = None) -> Ingestor:
        self._check_vector_space(writing=True)
        counter = self.embedder.count_tokens if isinstance(self.embedder, LocalMiniLM) else approx_token_count
        chunker = Chunker(counter, self.settings.ingest.chunk_tokens, self.settings.ingest.chunk_overlap)
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
        with self.trace("search", {"query": query, "k": k, "mode": mode}, context) as t:
            results = (
                self._retriever()
                .search(query, k, filters, mode=mode, max_chars=self.settings.answer.max_question_chars)
                .results
            )
            if t is not None:
                t.output = {
                    "results": [{"doc_id": r.doc_id, "chunk_id": r.chunk_id, "score": r.score} for r in results]
                }
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
        if agent:
            return self._ask_agent(question, filters, context, history, max_steps)
        with self.trace("ask", {"question": question}, context) as t:
            if history:
                question = self._standalone(question, history, context, t)
            question = check_query(question, self.settings.answer.max_question_chars)
            retrieval = self._retriever().search(
                question,
                max(self.settings.answer.context_chunks, 1),
                filters,
                max_chars=self.settings.answer.max_question_chars,
            )
            if retrieval.results or self.store.count_documents(_access_of(filters)):
                with recall_scope(access_scope(filters)):  # sentence vectors remembered for this reader only
                    answer = self._answerer(context, filters).answer(question, retrieval, on_text)
            else:  # nothing to read at all: saying "no passage matches" would send them rephrasing
                answer = nothing_to_read(question, filters)
            if t is not None:
                answer.trace_id = t.trace_id
                t.output = {
                    "answer": answer.answer,
                    "abstained": answer.abstained,
                    "citations": [{"n": c.n, "doc_id": c.doc_id, "chunk_id": c.chunk_id} for c in answer.citations],
                    "retrieved": [
                        {"doc_id": r.doc_id, "chunk_id": r.chunk_id, "score": r.score} for r in retrieval.results
                    ],
                }
        return answer

    def _ask_agent(
        self,
        question: str,
        filters: Filters | None,
        context: CallContext | None,
        history: Sequence[Turn],
        max_steps: int | None,
    ) -> Answer:
        route = self.settings.answer.model
        if not route:
            raise ConfigError("an agent ask needs a model: set [answer] model to a route or a [models.NAME]")
        question = check_query(question, self.settings.answer.max_question_chars)
        caller, cap = dict(filters or {}), self.settings.answer.agent_max_steps

        def search(query: str, k: int, wanted: dict[str, Any] | None) -> list[SearchResult]:
            limit = self.settings.answer.max_question_chars
            return self._retriever().search(query, k, {**(wanted or {}), **caller}, max_chars=limit).results

        def fallback(q: str, passages: list[SearchResult]) -> Answer:
            """Extractive, over what the agent found first and then the question's own search."""
            size = max(self.settings.answer.context_chunks, 1)
            retrieval = self._retriever().search(q, size, caller or None, max_chars=len(q))
            seen = {p.chunk_id for p in passages}
            retrieval.results = [*passages, *(r for r in retrieval.results if r.chunk_id not in seen)][: size * 2]
            with recall_scope(access_scope(filters)):
                return self._answerer(context, filters, extractive=True).answer(q, retrieval)

        loop = Agent(
            self.gateway,
            route,
            search,
            fallback,
            max_steps=min(max_steps or cap, cap),  # a caller may ask for fewer turns, never more
            max_tokens=self.settings.answer.max_output_tokens,
            context=context or CallContext(),
            injection=self.settings.answer.injection,
        )
        with self.trace("ask", {"question": question, "agent": True}, context) as t:
            run = loop.run(question, [ChatMessage(turn.role, turn.content) for turn in history])
            answer = run.answer
            answer.agent = {"status": run.status, "steps": steps_json(run.steps), "usage": run.usage}
            if t is not None:
                answer.trace_id = t.trace_id
                t.output = {"answer": answer.answer, "abstained": answer.abstained, **answer.agent}
        return answer

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
        tenant: str = "default",
    ) -> EvalRun:
        """Index a BEIR folder's corpus in its own store (reused while corpus and settings are
        unchanged), run its queries, store the run here and return it. `tenant`: whose run it is
        (over HTTP, only that tenant's admins read it)."""
        if pipeline not in PIPELINES:
            raise ValueError(f"unknown pipeline '{pipeline}' (choose from {', '.join(PIPELINES)})")
        dataset = load_beir(Path(data), split)
        index = self._eval_index(dataset.name, dataset.fingerprint())
        with (
            self.trace("eval.retrieval", {"dataset": str(data), "split": split, "pipeline": pipeline}) as t,
            index,
            muted(),
        ):
            index.ingest_records(dataset.corpus(), progress=progress)
            if pipeline == "hybrid":
                index.settings.retrieval = index.settings.retrieval.model_copy(
                    update={"fusion": "rrf", "bm25_weight": 1.0, "dense_weight": 1.0}
                )
            mode = pipeline if pipeline in ("bm25", "dense") else "hybrid"
            retriever = index._retriever()
            if pipeline != "default":  # the reference pipelines stay as shipped; learning shapes the default
                retriever.learned = None
            config = index.settings.model_dump(mode="json", include={"retrieval", "ingest", "embedding"})
            config["learned"] = learned_summary(retriever.learned_model())
            run = evaluate_retrieval(
                dataset,
                lambda q: retriever.search(q, 300, mode=mode, max_chars=10**7).results,
                pipeline=pipeline,
                config=config,
            )
            if t is not None:
                t.output = {"run_id": run.run_id, "metrics": run.metrics}
        self.store.save_eval_run({**run.to_dict(), "tenant": tenant})
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
        tenant: str = "default",
    ) -> EvalRun:
        """Ask every query of a BEIR folder (in the same index as retrieval evaluation) and score the
        answers; judge verdicts are cached in this store, so a re-run repeats them exactly."""
        dataset = load_beir(Path(data), split)
        gold_path = gold_file or find_gold(dataset.path, split)
        gold = load_gold(gold_path, split) if gold_path else None
        judge = None
        if judge_model is not None:
            model = GatewayChat(self.gateway, judge_model) if isinstance(judge_model, str) else judge_model
            judge = Judge(model, self.store, concurrency=concurrency)
        index = self._eval_index(dataset.name, dataset.fingerprint())
        with self.trace("eval.answers", {"dataset": str(data), "split": split, "limit": limit}) as t, index, muted():
            index._chat_model = self._answer_model()  # through this workspace's gateway
            index.ingest_records(dataset.corpus())
            pipeline = f"generated:{self.settings.answer.model}" if self.settings.answer.model else "extractive"
            run = evaluate_answers(
                dataset,
                index.ask,
                index.embedder,
                pipeline=pipeline,
                judge=judge,
                gold=gold,
                limit=limit,
                progress=progress,
                config=index.settings.model_dump(mode="json", include={"retrieval", "answer"}),
            )
            if t is not None:
                t.output = {"run_id": run.run_id, "metrics": run.metrics}
        self.store.save_eval_run({**run.to_dict(), "tenant": tenant})
        return run

    def _eval_index(self, name: str, fingerprint: str) -> Workspace:
        import hashlib

        h = hashlib.sha256(fingerprint.encode())
        h.update(self.settings.ingest.model_dump_json().encode() + self.settings.embedding.model_dump_json().encode())
        settings = self.settings.model_copy(deep=True)
        settings.data_dir = self.settings.data_dir / "eval" / f"{name}-{h.hexdigest()[:12]}"
        settings.store.url = ""  # a local, rebuildable index in its own SQLite file, never the shared store
        index = Workspace(settings=settings, embedder=self.embedder)
        index._learned_from = self.store
        return index

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

    def _answer_model(self) -> ChatModel | None:
        """The model generated answers come from: the one given, else [answer] model through the gateway."""
        if self._chat_model is None and self.settings.answer.model:
            self._chat_model = GatewayChat(self.gateway, self.settings.answer.model)
        return self._chat_model

    def _standalone(self, question: str, history: Sequence[Turn], context: CallContext | None, t: Any) -> str:
        """A follow-up rewritten by the answer model, or carried over without one (generate/followup.py);
        the trace's input keeps both questions."""
        model = self._answer_model()
        if context is not None and isinstance(model, GatewayChat):
            model = GatewayChat(model.gateway, model.name, context)
        rewrite = standalone_question(question, history, model, max_chars=self.settings.answer.max_question_chars)
        if t is not None:
            t.input.update(rewrite.trace_fields())
        return rewrite.question

    def _answerer(
        self, context: CallContext | None = None, filters: Filters | None = None, extractive: bool = False
    ) -> Answerer:
        model = None if extractive else self._answer_model()
        if context is not None and isinstance(model, GatewayChat):
            model = GatewayChat(model.gateway, model.name, context)
        calibration = self.calibration(filters=filters) if self.settings.answer.abstain_threshold is None else None
        return Answerer(
            self.embedder,
            self.settings.answer,
            model,
            thresholds=calibration.thresholds if calibration else None,
            count=lambda word: len(self.store.keyword_search(word, RARE_PASSAGES + 1, filters)),
        )

    # -- refusal calibration (generate/calibration.py) ---------------------------------------------

    def calibration(self, refresh: bool = False, filters: Filters | None = None) -> Calibration | None:
        """How this corpus scores questions it cannot answer: made on first need (40 probe asks,
        about a second), kept in the store, made again when the corpus grew or shrank by more than
        a tenth or the tuned margin changed. None while the store is empty. Made per reader (the
        access filter's tenant and groups): the probes search what the reader may read only, so
        whether a question is refused never depends on text the reader cannot see."""
        scope = access_scope(filters)
        generation = self.store.get_meta("generation")
        kept = self._calibrations.get(scope)
        if refresh or kept is None or kept[0] != generation:
            key = META_KEY if not scope else f"{META_KEY}:{hashlib.sha256(scope.encode()).hexdigest()[:16]}"
            chunks = self.store.stats()["chunks"]
            held = Calibration.from_json(self.store.get_meta(key))
            tuned = self.store.get_meta(MARGIN_KEY)
            margin = float(tuned) if tuned is not None else None
            moved = held is not None and margin is not None and held.margin != margin
            if chunks and (refresh or moved or held is None or held.stale(chunks, self.embedder.name)):
                with muted():
                    held = calibrate(lambda q: self._evidence(q, filters), chunks, self.embedder.name, margin)
                self.store.set_meta(key, held.to_json())
            if len(self._calibrations) >= 1024:
                self._calibrations.pop(next(iter(self._calibrations)))
            self._calibrations[scope] = kept = (generation, held if chunks else None)
        return kept[1]

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
        return judge(
            q, evidence, Thresholds(-2.0), lambda w: len(self.store.keyword_search(w, RARE_PASSAGES + 1, filters))
        )

    def _evidence(self, question: str, filters: Filters | None = None) -> list[Evidence]:
        """An ask's evidence with its best sentences embedded (as when refusing is in doubt)."""
        retrieval = self._retriever().search(
            question,
            max(self.settings.answer.context_chunks, 1),
            filters,
            max_chars=self.settings.answer.max_question_chars,
        )
        evidence = gather(question, retrieval.results)
        embed(evidence, retrieval.query_vector, self.embedder)
        return evidence


def _access_of(filters: Filters | None) -> Filters | None:
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
