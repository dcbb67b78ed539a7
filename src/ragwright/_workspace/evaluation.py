"""A workspace's evaluation runs (evaluate/): a BEIR folder's corpus is indexed in its own local
store (an EvalIndex, reused while corpus and settings are unchanged) and its queries are searched
or asked there; the caller stores the run in its own store.

What a run takes from its workspace comes in as EvalParts, built by Workspace._eval_parts: the
run names each part it uses instead of reaching into the workspace's private attributes."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..errors import RagwrightError
from ..evaluate import EvalRun, Judge, evaluate_answers, evaluate_retrieval, find_gold, load_beir, load_gold
from ..feedback.dataset import dataset_tenant, stale_documents
from ..models.chat import ChatModel, GatewayChat
from ..observe import muted
from ..retrieve.adapter import summary as learned_summary
from ..store.records import forget_in_cases

if TYPE_CHECKING:
    from ..evaluate.beir import BeirDataset
    from ..evaluate.labels import GoldAnswers
    from ..models.gateway import Gateway
    from ..observe.tracing import Trace
    from ..retrieve import HybridRetriever
    from ..store.contract import Store
    from ..workspace import Workspace

# Evaluation pipelines: "default" is the configured search; "hybrid" is classic equal-weight RRF,
# the fusion most frameworks use, kept as a reference point.
PIPELINES = ("default", "hybrid", "bm25", "dense")

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class EvalIndex:
    """An evaluation corpus's own index: a workspace with a rebuildable SQLite file of its own that
    applies its parent's learning, and its retriever, which a retrieval run drives below what
    Workspace.search offers (300 hits, a chosen mode, learning off for the reference pipelines)."""

    workspace: Workspace
    retriever: Callable[[], HybridRetriever]


@dataclass(frozen=True)
class EvalParts:
    """What an evaluation run takes from its workspace. Callables where the workspace builds the
    part on first use, so that a run builds no more than before (a retrieval run no gateway)."""

    settings: Settings
    store: Callable[[], Store]  # where a judge's verdicts are cached
    gateway: Callable[[], Gateway]  # what a judge named by route or model calls through
    trace: Callable[[str, dict[str, Any]], AbstractContextManager[Trace | None]]
    answer_model: Callable[[], ChatModel | None]
    index: Callable[[str, str, ChatModel | None], EvalIndex]  # (corpus name, fingerprint, answer model)


def eval_settings(settings: Settings, name: str, fingerprint: str, embedder: str) -> Settings:
    """An evaluation index's settings: its own SQLite file, named by the corpus, the ingest and
    embedding settings and the embedder's vector space (a graph chosen by the environment is not in
    the settings) that shaped it, so a changed corpus, setting or graph gets a new index rather than
    a refusal of its own rebuildable one."""
    h = hashlib.sha256(fingerprint.encode())
    h.update(settings.ingest.model_dump_json().encode() + settings.embedding.model_dump_json().encode())
    h.update(embedder.encode())
    copy = settings.model_copy(deep=True)
    copy.data_dir = settings.data_dir / "eval" / f"{name}-{h.hexdigest()[:12]}"
    copy.store.url = ""  # a local, rebuildable index in its own SQLite file, never the shared store
    return copy


@dataclass(slots=True)
class SourcedRun(EvalRun):
    """A run made from this store's documents (a dataset exported from feedback: its corpus is a
    copy of them). `sources`: those its cases name, at the version read before the run checked
    that their exported text is still the stored one. save_eval_run holds the run to them in the
    transaction that writes it (store/records.py, cases_to_store), as traces and cached replies
    are held to what they read: a deletion landing after the run's end check (forget_stale) and
    before the save cleared the runs stored then, not this one. Not stored with the run."""

    sources: dict[str, str] = field(default_factory=dict)


def current_feedback(parts: EvalParts, data: str | Path) -> dict[str, str] | None:
    """For a dataset made from feedback (its corpus a copy of a tenant's documents), the version
    of each of the tenant's documents (doc_id -> content hash), once checked that the store still
    holds every document of it as exported: a deleted or replaced one would otherwise have its
    old text indexed and quoted in the run again. None for a dataset made elsewhere. The versions
    are read before the text is compared: one replaced in between is held to its older version,
    and its text is taken out of the run when saved (the safe side)."""
    tenant = dataset_tenant(Path(data))
    if tenant is None:
        return None
    versions = {d.doc_id: d.content_hash for d in parts.store().list_documents({"tenant": tenant})}
    stale = stale_documents(parts.store(), Path(data))
    if stale:
        raise RagwrightError(
            f"{data} was exported from feedback before {len(stale)} of its documents were deleted or replaced "
            f"({', '.join(stale[:3])}{', ...' if len(stale) > 3 else ''}): export it again "
            "(ragwright eval dataset from-feedback) so that their old text is not evaluated"
        )
    return versions


def sourced(run: EvalRun, versions: dict[str, str]) -> SourcedRun:
    """The run, saying which of the store's documents it names (any string of its cases that is
    one: a cited or retrieved id, a qrels key) at the version read before it started."""
    named = set(_strings(run.cases))
    sources = {d: v for d, v in versions.items() if d in named}
    return SourcedRun(**{f.name: getattr(run, f.name) for f in fields(EvalRun)}, sources=sources)


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, its keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def discard(index: Workspace) -> None:
    """A feedback dataset's index is a copy of the tenant's documents, where no deletion reaches:
    it is removed after its run (and rebuilt by the next), not kept as a BEIR corpus's is."""
    index.close()
    shutil.rmtree(index.settings.data_dir, ignore_errors=True)


def forget_stale(parts: EvalParts, data: str | Path, run: EvalRun) -> EvalRun:
    """A document deleted or replaced while a feedback run went leaves the run's cases as a
    deletion after the run is saved would (store/records.py, forget_in_cases)."""
    for doc_id in stale_documents(parts.store(), Path(data)):
        run.cases = forget_in_cases(run.cases, doc_id) or run.cases
    return run


def retrieval_run(parts: EvalParts, data: str | Path, split: str, pipeline: str, progress: Progress | None) -> EvalRun:
    """Search every query of the folder with `pipeline`; learning shapes the default pipeline only."""
    if pipeline not in PIPELINES:
        raise ValueError(f"unknown pipeline '{pipeline}' (choose from {', '.join(PIPELINES)})")
    dataset = load_beir(Path(data), split)
    versions = current_feedback(parts, data)
    evaluated = parts.index(dataset.name, dataset.fingerprint(), None)
    try:
        run = _retrieval(evaluated, dataset, data, split, pipeline, progress, parts)
    finally:
        if versions is not None:
            discard(evaluated.workspace)
    return sourced(forget_stale(parts, data, run), versions) if versions is not None else run


def _retrieval(
    evaluated: EvalIndex,
    dataset: BeirDataset,
    data: str | Path,
    split: str,
    pipeline: str,
    progress: Progress | None,
    parts: EvalParts,
) -> EvalRun:
    index = evaluated.workspace
    with (
        parts.trace("eval.retrieval", {"dataset": str(data), "split": split, "pipeline": pipeline}) as t,
        index,
        muted(),
    ):
        index.ingest_records(dataset.corpus(), progress=progress)
        if pipeline == "hybrid":
            index.settings.retrieval = index.settings.retrieval.model_copy(
                update={"fusion": "rrf", "bm25_weight": 1.0, "dense_weight": 1.0}
            )
        mode = pipeline if pipeline in ("bm25", "dense") else "hybrid"
        retriever = evaluated.retriever()
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
    return run


def answers_run(
    parts: EvalParts,
    data: str | Path,
    split: str,
    *,
    limit: int | None,
    judge_model: str | ChatModel | None,
    gold_file: Path | None,
    concurrency: int,
    progress: Progress | None,
) -> EvalRun:
    """Ask every query of the folder through the workspace's answer model and gateway, and score
    the answers; the judge's verdicts are cached in the workspace's store, so a re-run repeats them
    exactly."""
    dataset = load_beir(Path(data), split)
    gold_path = gold_file or find_gold(dataset.path, split)
    gold = load_gold(gold_path, split) if gold_path else None
    judge = None
    if judge_model is not None:
        model = GatewayChat(parts.gateway(), judge_model) if isinstance(judge_model, str) else judge_model
        judge = Judge(model, parts.store(), concurrency=concurrency)
    versions = current_feedback(parts, data)
    # the index answers through this workspace's answer model and gateway (its budgets and caches)
    index = parts.index(dataset.name, dataset.fingerprint(), parts.answer_model()).workspace
    try:
        run = _answers(index, dataset, parts, data, split, limit, judge, gold, progress)
    finally:
        if versions is not None:
            discard(index)
    return sourced(forget_stale(parts, data, run), versions) if versions is not None else run


def _answers(
    index: Workspace,
    dataset: BeirDataset,
    parts: EvalParts,
    data: str | Path,
    split: str,
    limit: int | None,
    judge: Judge | None,
    gold: GoldAnswers | None,
    progress: Progress | None,
) -> EvalRun:
    with parts.trace("eval.answers", {"dataset": str(data), "split": split, "limit": limit}) as t, index, muted():
        index.ingest_records(dataset.corpus())
        pipeline = f"generated:{parts.settings.answer.model}" if parts.settings.answer.model else "extractive"
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
    return run
