"""`ragwright` commands: init, ingest, documents, delete, search, ask. Every command takes
--data-dir and --config; errors print one line a person can act on, and exit non-zero."""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.console import Console
from rich.markup import escape

from ..config import DEFAULT_CONFIG_NAME, DEFAULT_TOML
from ..errors import RagwrightError
from ..workspace import Workspace

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Cited, grounded answers from your own documents.")
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

DataDir = Annotated[Optional[Path], typer.Option("--data-dir", help="Data directory (default: $RAGWRIGHT_HOME or ./.ragwright)")]
ConfigFile = Annotated[Optional[Path], typer.Option("--config", help="Config file (default: ./ragwright.toml if present)")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout")]
Filter = Annotated[Optional[list[str]], typer.Option("--filter", help="FIELD=VALUE (doc_id, source, format, title, metadata.KEY); repeatable")]

EXIT_FAILED_FILES, EXIT_ERROR, EXIT_INTERRUPTED = 1, 2, 130


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except RagwrightError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True)
            raise typer.Exit(EXIT_ERROR) from None
        except ValueError as exc:  # bad filters and other bad arguments
            err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True)
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            err.print("interrupted: every finished document is stored; run the same command again to finish")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def _workspace(data_dir: Path | None, config: Path | None) -> Workspace:
    return Workspace(data_dir, config_file=config)


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


def _filters(items: list[str] | None) -> dict[str, list[str]] | None:
    if not items:
        return None
    out: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--filter '{item}' must look like FIELD=VALUE, e.g. format=pdf")
        key, value = item.split("=", 1)
        out.setdefault(key.strip(), []).append(value)
    return out


@app.command()
@_guarded
def init(config: ConfigFile = None, force: Annotated[bool, typer.Option(help="Overwrite an existing file")] = False) -> None:
    """Write a commented ragwright.toml with every setting and its default."""
    path = config or Path(DEFAULT_CONFIG_NAME)
    if path.exists() and not force:
        err.print(f"error: {path} exists; use --force to overwrite it")
        raise typer.Exit(EXIT_ERROR)
    path.write_text(DEFAULT_TOML, encoding="utf-8")
    err.print(f"wrote {path}")


@app.command()
@_guarded
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files and folders (folders are walked recursively)")],
    include: Annotated[Optional[list[str]], typer.Option("--include", help="Glob a file must match; repeatable")] = None,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", help="Glob to skip; repeatable")] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Drop documents whose files are gone")] = False,
    data_dir: DataDir = None, config: ConfigFile = None, as_json: Json = False,
) -> None:
    """Ingest Markdown, text, HTML, PDF and DOCX files; unchanged files are skipped."""
    ws = _workspace(data_dir, config)
    if include:
        ws.settings.ingest.include = list(include)
    if exclude:
        ws.settings.ingest.exclude = [*ws.settings.ingest.exclude, *exclude]
    with ws, _progress(enabled=not as_json) as (progress, on_start):
        report = ws.ingest(paths, prune=prune, progress=progress, on_start=on_start)
    if as_json:
        data = report.to_dict()
        data.pop("doc_ids")
        _emit(data)
    else:
        for failure in report.failed:
            err.print(f"[red]failed:[/red] {escape(failure.path)}: {escape(failure.error)}", markup=True)
        pruned = f", {report.pruned} pruned" if prune else ""
        err.print(f"{report.ingested} ingested, {report.unchanged} unchanged, {len(report.failed)} failed, "
                  f"{report.chunks} chunks{pruned}")
    if report.failed:
        raise typer.Exit(EXIT_FAILED_FILES)


class _progress:
    """A Rich progress bar on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and err.is_terminal
        self._bar = None

    def __enter__(self):  # noqa: ANN204
        if not self.enabled:
            return None, None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("[bold]ingesting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                             TextColumn("{task.description}"), console=err, transient=True)
        self._bar.__enter__()
        task = self._bar.add_task("", total=None)
        bar = self._bar

        def advance(n: int, item: str) -> None:
            bar.update(task, advance=n, description=item[:40])

        return advance, lambda total: bar.update(task, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)


@app.command()
@_guarded
def documents(data_dir: DataDir = None, config: ConfigFile = None, as_json: Json = False) -> None:
    """List the stored documents."""
    with _workspace(data_dir, config) as ws:
        docs = ws.documents()
        failures = ws.store.failures()
    if as_json:
        _emit({"documents": [d.to_dict() for d in docs], "failed": [{"path": p, "error": e} for p, e in failures]})
        return
    for d in docs:
        out.print(f"{d.doc_id}  {d.format:8} {d.n_chunks:5} chunks  {d.source}")
    for path, error in failures:
        err.print(f"failed: {path}: {error}")


@app.command()
@_guarded
def delete(ref: Annotated[str, typer.Argument(help="Document id or path")], data_dir: DataDir = None,
           config: ConfigFile = None, as_json: Json = False) -> None:
    """Delete a document and everything derived from it (chunks, vectors, full-text rows)."""
    with _workspace(data_dir, config) as ws:
        doc = ws.delete(ref)
    if as_json:
        _emit({"deleted": doc.doc_id, "source": doc.source})
    else:
        err.print(f"deleted {doc.doc_id} ({doc.source})")


@app.command()
@_guarded
def search(
    query: Annotated[str, typer.Argument(help="What to look for")],
    k: Annotated[Optional[int], typer.Option("--k", min=1, max=1000, help="Number of results (default: retrieval.k)")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, bm25 or dense")] = "hybrid",
    filters: Filter = None, data_dir: DataDir = None, config: ConfigFile = None, as_json: Json = False,
) -> None:
    """Hybrid search (BM25 + dense, fused); prints the best chunks."""
    if mode not in ("hybrid", "bm25", "dense"):
        raise ValueError(f"--mode must be hybrid, bm25 or dense, not '{mode}'")
    with _workspace(data_dir, config) as ws:
        results = ws.search(query, k, _filters(filters), mode=mode)
    if as_json:
        keys = ("doc_id", "chunk_id", "source", "score", "text", "title", "heading_path", "page", "location")
        _emit({"results": [{key: r.to_dict()[key] for key in keys} for r in results]})
        return
    for i, r in enumerate(results, start=1):
        out.print(f"[bold]{i}. {escape(r.location)}[/bold]  score {r.score:.4f}", markup=True)
        out.print("   " + " ".join(r.text.split())[:300], markup=False)


@app.command()
@_guarded
def ask(
    question: Annotated[str, typer.Argument(help="Your question")],
    filters: Filter = None, data_dir: DataDir = None, config: ConfigFile = None, as_json: Json = False,
) -> None:
    """Answer from the documents; every sentence cites its sources. Abstains when evidence is weak."""
    with _workspace(data_dir, config) as ws:
        answer = ws.ask(question, _filters(filters))
    if as_json:
        data = answer.to_dict()
        data["citations"] = [{k: c[k] for k in ("n", "doc_id", "chunk_id", "source", "text", "score", "location")}
                             for c in data["citations"]]
        _emit(data)
        return
    out.print(answer.answer, markup=False)
    if answer.citations:
        out.print("\nSources:")
        for c in answer.citations:
            out.print(f"  [{c.n}] {c.location}", markup=False)
    for item in answer.removed_citations:
        err.print(f"removed citation [{item['n']}]: {item['reason']}")
    for sentence in answer.dropped_sentences:
        err.print(f"dropped unsupported sentence: {sentence}")


eval_app = typer.Typer(no_args_is_help=True, help="Measure retrieval on BEIR-layout datasets; list stored runs.")
app.add_typer(eval_app, name="eval")


@eval_app.command("retrieval")
@_guarded
def eval_retrieval(
    data: Annotated[Path, typer.Option("--data", help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv")],
    split: Annotated[str, typer.Option(help="qrels split")] = "test",
    pipeline: Annotated[str, typer.Option(help="default, hybrid, bm25 or dense")] = "default",
    data_dir: DataDir = None, config: ConfigFile = None, as_json: Json = False,
) -> None:
    """nDCG@10, recall@10/100, MRR@10 and MAP@100 of a pipeline (trec_eval semantics)."""
    with _workspace(data_dir, config) as ws, _progress(enabled=not as_json) as (progress, _):
        run = ws.evaluate_retrieval(data, split, pipeline, progress=progress)
    if as_json:
        _emit(run.summary())
        return
    from rich.table import Table

    table = Table(title=f"{run.dataset} ({run.split}, {run.n_queries} queries), pipeline {run.pipeline}")
    for name in run.metrics:
        table.add_column(name, justify="right")
    table.add_row(*(f"{v:.4f}" for v in run.metrics.values()))
    out.print(table)
    out.print(f"run {run.run_id}, {run.seconds:.1f} s")


@eval_app.command("runs")
@_guarded
def eval_runs(data_dir: DataDir = None, config: ConfigFile = None, as_json: Json = False) -> None:
    """List stored evaluation runs."""
    with _workspace(data_dir, config) as ws:
        runs = ws.store.list_eval_runs()
    if as_json:
        _emit({"runs": runs})
        return
    for r in runs:
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in r["metrics"].items())
        out.print(f"{r['run_id']}  {r['dataset']}/{r['split']}  {r['pipeline']:8} {metrics}", markup=False)


def main() -> None:
    app()
