"""`ragwright traces ...`, `ragwright feedback` and `ragwright eval dataset from-feedback`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import NotFoundError
from .common import ConfigFile, DataDir, Json, emit, err, guarded, out, workspace

traces_app = typer.Typer(no_args_is_help=True, help="Traces of searches, answers, chats and evaluations.")
dataset_app = typer.Typer(no_args_is_help=True, help="Evaluation datasets made from what users said.")


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@traces_app.command("list")
@guarded
def traces_list(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 20,
    name: Annotated[str | None, typer.Option(help="search, ask, chat, eval.retrieval, ...")] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """The most recent traces."""
    with workspace(data_dir, config) as ws:
        rows = ws.store.list_traces(limit=limit, name=name)
    if as_json:
        emit({"traces": rows})
        return
    for r in rows:
        text = str(next(iter(r["input"].values()), ""))[:60] if r["input"] else ""
        out.print(
            f"{r['trace_id']}  {_when(r['started_at'])}  {r['name']:14} {r['duration_ms']:8.1f} ms  "
            f"{r['status']:5} {r['cost_usd']:.6f} USD  {text}",
            markup=False,
        )


@traces_app.command("show")
@guarded
def traces_show(
    trace_id: Annotated[str, typer.Argument(help="A trace id (see: ragwright traces list)")],
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """A trace's spans as a tree, with their timings."""
    with workspace(data_dir, config) as ws:
        trace = ws.store.get_trace(trace_id)
    if trace is None:
        raise NotFoundError(f"no trace '{trace_id}' (see: ragwright traces list)")
    if as_json:
        emit(trace)
        return
    out.print(
        f"{trace['name']} {trace['trace_id']} at {_when(trace['start'])}: {trace['duration_ms']:.1f} ms, "
        f"{trace['status']}, {trace['input_tokens']} in / {trace['output_tokens']} out tokens, "
        f"{trace['cost_usd']:.6f} USD",
        markup=False,
    )
    children: dict[str | None, list[dict[str, Any]]] = {}
    for s in trace["spans"]:
        children.setdefault(s["parent_id"], []).append(s)

    def show(parent: str | None, depth: int) -> None:
        for s in children.get(parent, []):
            offset = (s["start"] - trace["start"]) * 1000
            attrs = ", ".join(
                f"{k}={v}" for k, v in s["attributes"].items() if not isinstance(v, (list, dict)) and len(str(v)) < 60
            )
            out.print(
                f"{'  ' * depth}{s['name']:<{24 - 2 * depth}} +{offset:7.1f} ms {s['duration_ms']:8.1f} ms  "
                f"{s['status']}  {attrs}",
                markup=False,
            )
            show(s["span_id"], depth + 1)

    show(None, 1)


def feedback(
    trace_id: Annotated[str, typer.Argument(help="The trace the feedback is about")],
    up: Annotated[bool, typer.Option("--up", help="A thumbs up")] = False,
    down: Annotated[bool, typer.Option("--down", help="A thumbs down")] = False,
    rating: Annotated[int | None, typer.Option(min=1, max=5, help="A rating from 1 to 5")] = None,
    correction: Annotated[str | None, typer.Option(help="What the answer should have said")] = None,
    relevant: Annotated[
        list[str] | None, typer.Option(help="A chunk or document id that was relevant; repeatable")
    ] = None,
    not_relevant: Annotated[
        list[str] | None, typer.Option(help="A chunk or document id that was not; repeatable")
    ] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Attach a rating, a correction or relevance marks to a trace."""
    from ..feedback import record_feedback

    if sum([up, down, rating is not None]) > 1:
        raise ValueError("give one of --up, --down or --rating")
    value = "up" if up else "down" if down else rating
    with workspace(data_dir, config) as ws:
        trace = ws.store.get_trace(trace_id)
        if trace is None:
            raise NotFoundError(f"no trace '{trace_id}' (see: ragwright traces list)")
        marks = [_mark(i, True) for i in relevant or []] + [_mark(i, False) for i in not_relevant or []]
        feedback_id = record_feedback(
            ws.store, trace, key_id=None, tenant=trace.get("tenant"), rating=value, correction=correction, marks=marks
        )
    if as_json:
        emit({"feedback_id": feedback_id, "trace_id": trace_id})
    else:
        err.print(f"feedback {feedback_id} stored for {trace_id}")


def _mark(ref: str, relevant: bool) -> dict[str, Any]:
    """Chunk ids are DOC_ID#N; anything else names a document."""
    return {"chunk_id": ref, "relevant": relevant} if "#" in ref else {"doc_id": ref, "relevant": relevant}


@dataset_app.command("from-feedback")
@guarded
def from_feedback(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write (BEIR layout)")],
    tenant: Annotated[
        str | None,
        typer.Option(help="The tenant whose feedback and documents to export (needed when the store holds several)"),
    ] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Write queries and qrels from relevance marks, and answer cases from corrections, of one
    tenant: runs made on the dataset belong to that tenant."""
    from ..feedback import export_dataset

    with workspace(data_dir, config) as ws:
        counts = export_dataset(ws.store, out_dir, tenant)
    if as_json:
        emit({"out": str(out_dir), **counts})
        return
    err.print(
        f"wrote {out_dir} from tenant {counts['tenant']}'s feedback: {counts['documents']} documents, "
        f"{counts['judged_queries']} judged queries, "
        f"{counts['answer_cases']} answer cases. Next: ragwright eval retrieval --data {out_dir}"
    )
