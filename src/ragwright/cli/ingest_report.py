"""What `ragwright ingest` tells a person when it is done: each failed file and why, the files it
left out and why, each flagged document with its secrets by type and line (never a value), and
one summary line. All on stderr; `--json` prints the same report on stdout instead."""

from __future__ import annotations

from collections import Counter

from rich.markup import escape

from ..ingest.screening import describe
from ..types import IngestReport
from .common import err

SHOW_SKIPPED = 10  # skipped files named one by one; the rest are counted by reason


def print_ingest_report(report: IngestReport, prune: bool) -> None:
    for failure in report.failed:
        err.print(f"[red]failed:[/red] {escape(failure.path)}: {escape(failure.error)}", markup=True)
    _print_skipped(report)
    for found in report.flagged:
        note = (
            ' (indexed as they are: ingest.secrets = "redact" replaces them)'
            if found["secrets"] and not found["redacted_secrets"]
            else " (redacted before indexing)"
        )
        err.print(f"[yellow]flagged:[/yellow] {escape(found['source'])}: {escape(describe(found))}{note}", markup=True)
    pruned = f", {report.pruned} pruned" if prune else ""
    skipped = f", {len(report.skipped)} skipped" if report.skipped else ""
    err.print(
        f"{report.ingested} ingested, {report.unchanged} unchanged, {len(report.failed)} failed{skipped}, "
        f"{report.chunks} chunks{pruned}"
    )


def _print_skipped(report: IngestReport) -> None:
    """A folder of 500 screenshots must not bury the rest: the first few by name, then counts."""
    for item in report.skipped[:SHOW_SKIPPED]:
        err.print(f"skipped: {item.path}: {item.reason}", markup=False)
    rest = report.skipped[SHOW_SKIPPED:]
    if rest:
        reasons = ", ".join(f"{n} {reason}" for reason, n in Counter(s.reason for s in rest).most_common())
        err.print(f"skipped: {len(rest)} more ({reasons}; --json lists them all)", markup=False)
