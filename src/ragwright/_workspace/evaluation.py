"""A workspace's evaluation runs (evaluate/): a BEIR folder's corpus is indexed in its own local
store (Workspace._eval_index, reused while corpus and settings are unchanged) and its queries are
searched or asked there; the caller stores the run in its own store."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Settings
from ..evaluate import EvalRun, Judge, evaluate_answers, evaluate_retrieval, find_gold, load_beir, load_gold
from ..models.chat import ChatModel, GatewayChat
from ..observe import muted
from ..retrieve.adapter import summary as learned_summary

if TYPE_CHECKING:
    from ..workspace import Workspace

# Evaluation pipelines: "default" is the configured search; "hybrid" is classic equal-weight RRF,
# the fusion most frameworks use, kept as a reference point.
PIPELINES = ("default", "hybrid", "bm25", "dense")

Progress = Callable[[float, str], None]


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


def retrieval_run(ws: Workspace, data: str | Path, split: str, pipeline: str, progress: Progress | None) -> EvalRun:
    """Search every query of the folder with `pipeline`; learning shapes the default pipeline only."""
    if pipeline not in PIPELINES:
        raise ValueError(f"unknown pipeline '{pipeline}' (choose from {', '.join(PIPELINES)})")
    dataset = load_beir(Path(data), split)
    index = ws._eval_index(dataset.name, dataset.fingerprint())
    with (
        ws.trace("eval.retrieval", {"dataset": str(data), "split": split, "pipeline": pipeline}) as t,
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
    return run


def answers_run(
    ws: Workspace,
    data: str | Path,
    split: str,
    *,
    limit: int | None,
    judge_model: str | ChatModel | None,
    gold_file: Path | None,
    concurrency: int,
    progress: Progress | None,
) -> EvalRun:
    """Ask every query of the folder through `ws`'s answer model and gateway, and score the answers;
    the judge's verdicts are cached in `ws`'s store, so a re-run repeats them exactly."""
    dataset = load_beir(Path(data), split)
    gold_path = gold_file or find_gold(dataset.path, split)
    gold = load_gold(gold_path, split) if gold_path else None
    judge = None
    if judge_model is not None:
        model = GatewayChat(ws.gateway, judge_model) if isinstance(judge_model, str) else judge_model
        judge = Judge(model, ws.store, concurrency=concurrency)
    index = ws._eval_index(dataset.name, dataset.fingerprint())
    with ws.trace("eval.answers", {"dataset": str(data), "split": split, "limit": limit}) as t, index, muted():
        index._chat_model = ws._answer_model()  # through this workspace's gateway
        index.ingest_records(dataset.corpus())
        pipeline = f"generated:{ws.settings.answer.model}" if ws.settings.answer.model else "extractive"
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
