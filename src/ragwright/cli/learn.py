"""`ragwright learn`: turn the relevance marks of feedback into better retrieval; `--rollback`
restores the version that was active before, `--status` lists the kept versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import EXIT_FAILED_FILES, ConfigFile, DataDir, Json, emit, err, workspace


def learn(
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Restore the version active before this one (or retrieval as shipped)")
    ] = False,
    status: Annotated[bool, typer.Option("--status", help="List the kept versions; change nothing")] = False,
    force: Annotated[bool, typer.Option("--force", help="Activate even if held-out feedback got worse")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the adapter's training")] = 0,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Learn from relevance marks in the feedback to improve retrieval, with no paid provider."""
    from ..feedback.learn import NotImproved
    from ..feedback.learn import learn as run_learn
    from ..feedback.learn import rollback as run_rollback

    if sum([rollback, status, force]) > 1:
        raise ValueError("give one of --rollback, --status or --force")
    with workspace(data_dir, config) as ws:
        if status:
            versions = ws.store.list_learned()
            if as_json:
                emit({"versions": versions})
            else:
                _show_versions(versions)
            return
        if rollback:
            result = run_rollback(ws.store)
            if as_json:
                return emit(result)
            to = f"version {result['active']}" if result["active"] else "retrieval as shipped (nothing learned)"
            err.print(f"rolled back version {result['rolled_back']}; active now: {to}")
            return
        say = None if as_json else (lambda message: err.print(f"learn: {message}"))
        try:
            report = run_learn(ws.store, ws.embedder, ws.settings.retrieval, force=force, seed=seed, progress=say)
        except NotImproved as exc:
            if as_json:
                emit({"activated": False, "reason": str(exc), **exc.report})
            else:
                _show_report(exc.report)
                err.print(f"[yellow]not activated:[/yellow] {exc}", markup=True)
            raise typer.Exit(EXIT_FAILED_FILES) from None
    if as_json:
        emit({"activated": True, **report})
        return
    _show_report(report)
    before = f"version {report['previous_version']}" if report["previous_version"] else "retrieval as shipped"
    err.print(
        f"version {report['version']} ({report['chosen']['kind']}) is active; it replaced {before}, "
        "which `ragwright learn --rollback` restores"
    )


def _show_report(report: dict[str, Any]) -> None:
    fb, val, chosen = report["feedback"], report["validation"], report["chosen"]
    table = Table(title="ragwright learn", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("feedback rows", f"{fb['feedback']} ({fb['without_marks']} without relevance marks, not used)"),
        ("queries", f"{fb['queries']} ({fb['queries_with_relevant']} with a relevant mark)"),
        ("pairs used", f"{report['pairs']['relevant']} relevant, {report['pairs']['not_relevant']} not relevant"),
        ("marks ignored", f"{fb['marks_on_deleted_documents']} on deleted documents"),
        ("held out", f"{val['queries']} queries (fitted on {val['fit_queries']})"),
        ("nDCG@10 held out", f"{val['ndcg@10_before']:.4f} as shipped -> {val['ndcg@10_after']:.4f} learned"),
        ("per query", f"{val['wins']} better, {val['losses']} worse, {val['ties']} unchanged"),
        ("candidates", ", ".join(f"{k} {v:.4f}" for k, v in val["candidates"].items())),
        (
            "chosen",
            chosen["kind"]
            + (f", adapter {chosen['adapter_epochs']} epochs" if chosen["adapter_epochs"] else "")
            + (f", memory {chosen['memory']}" if chosen["memory"] else ""),
        ),
        ("seconds", str(report.get("seconds", ""))),
    ]
    for name, value in rows:
        table.add_row(name, value)
    err.print(table)


def _show_versions(versions: list[dict[str, Any]]) -> None:
    if not versions:
        err.print("nothing learned yet: retrieval is as shipped")
        return
    table = Table(title="learned versions")
    for column in ("version", "active", "kind", "created", "held-out nDCG@10", "marks", "previous"):
        table.add_column(column)
    for v in versions:
        val = v["report"].get("validation", {})
        table.add_row(
            str(v["version"]),
            "yes" if v["active"] else "",
            v["kind"],
            datetime.fromtimestamp(v["created_at"], UTC).isoformat(timespec="seconds"),
            f"{val.get('ndcg@10_before', 0):.4f} -> {val.get('ndcg@10_after', 0):.4f}",
            str(v["marks"]),
            str(v["previous"] or ""),
        )
    err.print(table)
