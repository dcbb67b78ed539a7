"""`ragwright store migrate` and `ragwright store copy`: moving a workspace to another store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from .common import ConfigFile, DataDir, Json, emit, err, guarded, out
from .progress import progress

if TYPE_CHECKING:
    from ..store.copy import CopyReport

store_app = typer.Typer(no_args_is_help=True, help="The store's schema, and moving a workspace to another store.")

EXIT_MISMATCH = 1  # the copy finished but the counts differ (the source was written meanwhile)


@store_app.command()
@guarded
def migrate(
    url: Annotated[
        str | None, typer.Option("--url", help="The store (default: [store] url, or the data dir's ragwright.db)")
    ] = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Bring the store's schema to this version (each step in one transaction); a schema newer than
    this ragwright is refused with both versions named."""
    from ..config import load_settings
    from ..store.migrate import migrate_store

    settings = load_settings(config, data_dir=data_dir)
    done = migrate_store(settings.store.url if url is None else url, settings.db_path)
    if as_json:
        emit({"store": done.where, "backend": done.backend, "from": done.found, "to": done.now})
        return
    what = (
        f"migrated from schema version {done.found} to {done.now}"
        if done.changed
        else f"at schema version {done.now}, nothing to do"
    )
    out.print(f"{done.where} ({done.backend}): {what}")


@store_app.command()
@guarded
def copy(
    source: Annotated[str, typer.Option("--from", help="The store to copy: sqlite:///PATH or postgresql://...")],
    target: Annotated[str, typer.Option("--to", help="An empty store (or one an interrupted copy from --from left)")],
    as_json: Json = False,
    show_progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress per table on stderr")
    ] = True,
) -> None:
    """Copy a whole workspace (documents with their vectors, meta, traces, feedback, learned versions,
    API keys, audit, jobs, evaluation runs, model calls, caches) and compare counts table by table.
    Safe to run again after an interruption: it goes on where it stopped."""
    from ..store.copy import copy_store

    report = copy_store(source, target, track=_tracker(show_progress and not as_json))
    if as_json:
        emit(
            {
                "from": report.source,
                "to": report.target,
                "ok": report.ok,
                "seconds": round(report.seconds, 3),
                "documents_written": report.documents_written,
                "documents_skipped": report.documents_skipped,
                "counts": [{"table": c.table, "source": c.source, "target": c.target} for c in report.counts],
            }
        )
    else:
        _print_counts(report)
    if not report.ok:
        if not as_json:
            err.print("error: counts differ: was the source written during the copy? run the same command again")
        raise typer.Exit(EXIT_MISMATCH)


def _tracker(enabled: bool) -> Callable[[str, int], AbstractContextManager[Callable[[int], None]]]:
    """Per table, the project's progress line (or bar on a terminal)."""

    @contextmanager
    def track(table: str, total: int) -> Iterator[Callable[[int], None]]:
        with progress(enabled and total > 0, label=f"copy {table}", unit="rows", verb=f"copying {table}") as (
            advance,
            on_start,
        ):
            if on_start is not None:
                on_start(total)
            yield (lambda n: advance(n, table)) if advance is not None else (lambda n: None)

    return track


def _print_counts(report: CopyReport) -> None:
    from rich.table import Table

    table = Table(title=f"{report.source} -> {report.target}", title_justify="left")
    for name in ("table", "source", "target", ""):
        table.add_column(name, justify="left" if name == "table" else "right")
    for c in report.counts:
        table.add_row(c.table, f"{c.source:,}", f"{c.target:,}", "ok" if c.ok else "[red]differs[/red]")
    out.print(table)
    out.print(
        f"{report.documents_written:,} documents written, {report.documents_skipped:,} already there; "
        f"{report.seconds:.1f} s"
    )
