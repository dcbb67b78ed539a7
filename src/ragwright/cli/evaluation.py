"""`ragwright eval ...`: measure retrieval and answers, list and show runs, compare two runs,
gate a candidate against a baseline in CI, and write an HTML report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..errors import NotFoundError, RagwrightError
from ..evaluate.compare import compare_runs, gate
from .common import ConfigFile, DataDir, Json, emit, err, guarded, out, workspace
from .progress import progress

eval_app = typer.Typer(
    no_args_is_help=True, help="Measure retrieval and answers on BEIR-layout datasets; compare runs; gate regressions."
)
DataOpt = Annotated[Path, typer.Option("--data", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv")]
Split = Annotated[str, typer.Option(help="qrels split")]
EXIT_REGRESSION = 1


def _fmt(value: Any) -> str:
    return "unmeasured" if value is None else f"{value:.4f}"


def _print_run(run: Any) -> None:
    table = Table(title=f"{run.dataset} ({run.split}, {run.n_queries} queries), {run.kind}, pipeline {run.pipeline}")
    for name in run.metrics:
        table.add_column(name, justify="right")
    table.add_row(*(_fmt(v) for v in run.metrics.values()))
    out.print(table)
    for name, cov in run.coverage.items():
        if cov.get("unmeasured"):
            reasons = "; ".join(f"{why} ({n})" for why, n in cov["reasons"].items())
            out.print(
                f"{name}: measured on {cov['measured']}, unmeasured on {cov['unmeasured']}: {reasons}", markup=False
            )
    out.print(f"run {run.run_id}, {run.seconds:.1f} s")


RunTenant = Annotated[
    str | None,
    typer.Option(
        help="The tenant the run belongs to: over HTTP only its admins read it. Default: the tenant a "
        "dataset made by `eval dataset from-feedback` was made from, else `default`"
    ),
]


@eval_app.command("retrieval")
@guarded
def eval_retrieval(
    data: DataOpt,
    split: Split = "test",
    pipeline: Annotated[str, typer.Option(help="default, hybrid, bm25 or dense")] = "default",
    tenant: RunTenant = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """nDCG@10, recall@10/100, MRR@10 and MAP@100 of a pipeline (trec_eval semantics)."""
    shown = progress(not as_json, label="eval", unit="documents indexed", verb="indexing")
    with workspace(data_dir, config) as ws, shown as (advance, _):
        run = ws.evaluate_retrieval(data, split, pipeline, progress=advance, tenant=tenant)
    if as_json:
        emit(run.summary())
    else:
        _print_run(run)


@eval_app.command("answers")
@guarded
def eval_answers(
    data: DataOpt,
    split: Split = "test",
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N queries")] = None,
    judge: Annotated[str | None, typer.Option(help="A [models.NAME] that judges faithfulness and correctness")] = None,
    gold: Annotated[
        Path | None,
        typer.Option(help="Gold answers JSONL (default: answers.jsonl or claims_SPLIT_labels.jsonl in the folder)"),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Judge calls in flight at once")] = 4,
    tenant: RunTenant = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Ask every query; score citations, faithfulness, correctness, similarity and abstention."""
    shown = progress(not as_json, label="eval", unit="questions", verb="asking")
    with workspace(data_dir, config) as ws, shown as (advance, _):
        run = ws.evaluate_answers(
            data,
            split,
            limit=limit,
            judge_model=judge,
            gold_file=gold,
            concurrency=concurrency,
            progress=advance,
            tenant=tenant,
        )
    if as_json:
        emit(run.summary())
    else:
        _print_run(run)


@eval_app.command("runs")
@guarded
def eval_runs(data_dir: DataDir = None, config: ConfigFile = None, as_json: Json = False) -> None:
    """List stored evaluation runs."""
    with workspace(data_dir, config) as ws:
        runs = ws.store.list_eval_runs()
    if as_json:
        emit({"runs": runs})
        return
    for r in runs:
        metrics = "  ".join(f"{k} {_fmt(v)}" for k, v in r["metrics"].items())
        out.print(
            f"{r['run_id']}  {r['kind']:9} {r['dataset']}/{r['split']}  {r['pipeline']:10} {metrics}", markup=False
        )


def _load_run(ws: Any, ref: str) -> dict[str, Any]:
    """A stored run by id, or a run saved as JSON (`ragwright eval show RUN --json > baseline.json`)."""
    run: dict[str, Any] | None = ws.store.get_eval_run(ref)
    if run is not None:
        return run
    path = Path(ref)
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RagwrightError(f"{path}: not a saved run ({exc})") from exc
        if not isinstance(data, dict) or not {"run_id", "metrics", "per_query"} <= set(data):
            raise RagwrightError(f"{path}: not a saved run (save one with: ragwright eval show RUN --json > FILE)")
        return data
    raise NotFoundError(f"no run '{ref}' in the store and no such file (see: ragwright eval runs)")


@eval_app.command("show")
@guarded
def eval_show(
    run_ref: Annotated[str, typer.Argument(metavar="RUN", help="Run id or saved run file")],
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Show a run; with --json the whole run, which `eval gate --baseline FILE` accepts."""
    with workspace(data_dir, config) as ws:
        run = _load_run(ws, run_ref)
    if as_json:
        emit(run)
        return
    from ..evaluate.runs import EvalRun

    _print_run(EvalRun.from_dict(run))


@eval_app.command("compare")
@guarded
def eval_compare(
    run_a: Annotated[str, typer.Argument(metavar="RUN_A")],
    run_b: Annotated[str, typer.Argument(metavar="RUN_B")],
    top: Annotated[int, typer.Option(min=0, help="Queries that changed most to show")] = 10,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Per-measure deltas B - A with a paired permutation test, and the queries that moved most."""
    with workspace(data_dir, config) as ws:
        cmp = compare_runs(_load_run(ws, run_a), _load_run(ws, run_b), top=top)
    if as_json:
        emit(cmp.to_dict())
        return
    if not cmp.same_dataset:
        err.print("warning: the runs measured different data (dataset hashes differ); deltas may mean little")
    table = Table(title=f"{cmp.run_a} -> {cmp.run_b}")
    for col in ("measure", "A", "B", "B - A", "paired queries", "p (permutation)"):
        table.add_column(col, justify="right")
    for d in cmp.deltas:
        p = "-" if d.p_value is None else f"{d.p_value:.4f}"
        delta = "-" if d.delta is None else f"{d.delta:+.4f}"
        table.add_row(d.metric, _fmt(d.a), _fmt(d.b), delta, str(d.n_paired), p)
    out.print(table)
    if cmp.changed:
        out.print(f"queries that changed most on {cmp.primary}:")
        for c in cmp.changed:
            out.print(f"  {c['delta']:+.4f}  {c['query_id']}  {c['query'][:90]}", markup=False)


@eval_app.command("gate")
@guarded
def eval_gate(
    baseline: Annotated[str, typer.Option(help="Baseline run id or saved run file")],
    candidate: Annotated[
        str | None,
        typer.Option(
            help="Candidate run (default: the newest stored run of the same kind, dataset, split and pipeline)"
        ),
    ] = None,
    max_drop: Annotated[float, typer.Option(min=0, help="Largest allowed drop of any measure (absolute)")] = 0.01,
    metric: Annotated[list[str] | None, typer.Option(help="Measure to gate; repeatable (default: all)")] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Exit 1 when the candidate run falls more than --max-drop below the baseline on any measure."""
    with workspace(data_dir, config) as ws:
        base = _load_run(ws, baseline)
        cand = _load_run(ws, candidate) if candidate else _newest_like(ws, base)
    if base.get("dataset_hash") != cand.get("dataset_hash"):
        raise RagwrightError(
            f"runs {base['run_id']} and {cand['run_id']} measured different data "
            "(dataset hashes differ): a gate needs the same dataset"
        )
    checks = gate(base, cand, max_drop, metric)
    failed = [c for c in checks if not c.passed]
    if as_json:
        emit(
            {
                "baseline": base["run_id"],
                "candidate": cand["run_id"],
                "max_drop": max_drop,
                "passed": not failed,
                "checks": [_as_dict(c) for c in checks],
            }
        )
    else:
        for c in checks:
            status = "ok  " if c.passed else "FAIL"
            drop = "" if c.drop is None else f" drop {c.drop:+.4f}"
            out.print(
                f"{status} {c.metric}: {_fmt(c.baseline)} -> {_fmt(c.candidate)}{drop} {c.note}".rstrip(), markup=False
            )
        out.print(
            f"{'passed' if not failed else 'REGRESSION'}: {cand['run_id']} against baseline {base['run_id']}, "
            f"max drop {max_drop}",
            markup=False,
        )
    if failed:
        raise typer.Exit(EXIT_REGRESSION)


def _as_dict(obj: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(obj)


def _newest_like(ws: Any, base: dict[str, Any]) -> dict[str, Any]:
    same = [
        r
        for r in ws.store.list_eval_runs()
        if r["run_id"] != base["run_id"]
        and (r["kind"], r["dataset"], r["split"], r["pipeline"])
        == (base.get("kind"), base.get("dataset"), base.get("split"), base.get("pipeline"))
    ]
    if not same:
        raise NotFoundError(
            f"no stored {base.get('kind')} run on {base.get('dataset')}/{base.get('split')} with "
            f"pipeline {base.get('pipeline')} besides the baseline: run the evaluation first, "
            "or name one with --candidate"
        )
    found: dict[str, Any] = ws.store.get_eval_run(same[-1]["run_id"])
    return found


@eval_app.command("report")
@guarded
def eval_report(
    runs: Annotated[list[str], typer.Argument(metavar="RUN...", help="Run ids or saved run files")],
    out_file: Annotated[Path, typer.Option("--out", help="HTML file to write")] = Path("report.html"),
    worst: Annotated[int, typer.Option(min=0, help="Worst queries shown per run")] = 10,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """A self-contained HTML page (no network needed) with metric charts and the worst queries."""
    from ..evaluate.report import render_report

    with workspace(data_dir, config) as ws:
        loaded = [_load_run(ws, r) for r in runs]
    tmp = out_file.with_name(out_file.name + ".tmp")
    tmp.write_text(render_report(loaded, worst=worst), encoding="utf-8")
    tmp.replace(out_file)
    err.print(f"wrote {out_file} ({len(loaded)} run{'s' if len(loaded) != 1 else ''})")
