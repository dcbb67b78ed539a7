"""`ragwright` commands: init, ingest, documents, delete, search, ask (and the `eval` group).
Every command takes --data-dir and --config; errors print one line a person can act on, and
exit non-zero."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..config import DEFAULT_CONFIG_NAME, DEFAULT_TOML
from .calibrate import calibrate
from .common import (
    EXIT_ERROR,
    EXIT_FAILED_FILES,
    ConfigFile,
    DataDir,
    Filter,
    Json,
    emit,
    err,
    guarded,
    out,
    parse_filters,
    workspace,
)
from .evaluation import eval_app
from .guard import guard_app
from .ingest_report import print_ingest_report
from .learn import learn
from .mcp import mcp
from .models import chat, models_app, usage
from .observe import dataset_app, feedback, traces_app
from .progress import progress
from .server import audit, keys_app, serve
from .store import store_app

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Cited, grounded answers from your own documents.",
)


@app.command()
@guarded
def init(
    config: ConfigFile = None, force: Annotated[bool, typer.Option(help="Overwrite an existing file")] = False
) -> None:
    """Write a commented ragwright.toml with every setting and its default."""
    path = config or Path(DEFAULT_CONFIG_NAME)
    if path.exists() and not force:
        err.print(f"error: {path} exists; use --force to overwrite it")
        raise typer.Exit(EXIT_ERROR)
    path.write_text(DEFAULT_TOML, encoding="utf-8")
    err.print(f"wrote {path}")


@app.command()
@guarded
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files and folders (folders are walked recursively)")],
    include: Annotated[list[str] | None, typer.Option("--include", help="Glob a file must match; repeatable")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Glob to skip; repeatable")] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Drop documents whose files are gone")] = False,
    tenant: Annotated[
        str, typer.Option(help="Tenant the documents belong to: the server's keys of this tenant read them")
    ] = "default",
    groups: Annotated[
        str, typer.Option(help="Comma-separated groups that may read them (empty: the whole tenant)")
    ] = "",
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Ingest Markdown, text, HTML, PDF and DOCX files; unchanged files are skipped."""
    from ..server.auth import group_names
    from ..types import Access

    access = Access(tenant, tuple(group_names(groups.split(","))))  # no control characters in a group
    ws = workspace(data_dir, config)
    if include:
        ws.settings.ingest.include = list(include)
    if exclude:
        ws.settings.ingest.exclude = [*ws.settings.ingest.exclude, *exclude]
    with ws, progress(True) as (advance, on_start):  # on stderr: --json output stays clean
        report = ws.ingest(paths, prune=prune, progress=advance, on_start=on_start, access=access)
    if as_json:
        data = report.to_dict()
        data.pop("doc_ids")
        emit(data)
    else:
        print_ingest_report(report, prune)
    if report.failed:
        raise typer.Exit(EXIT_FAILED_FILES)


@app.command()
@guarded
def documents(data_dir: DataDir = None, config: ConfigFile = None, as_json: Json = False) -> None:
    """List the stored documents."""
    with workspace(data_dir, config) as ws:
        docs = ws.documents()
        failures = ws.store.failures()
    if as_json:
        emit({"documents": [d.to_dict() for d in docs], "failed": [{"path": p, "error": e} for p, e in failures]})
        return
    for d in docs:
        out.print(f"{d.doc_id}  {d.format:8} {d.n_chunks:5} chunks  {d.source}")
    for path, error in failures:
        err.print(f"failed: {path}: {error}")


@app.command()
@guarded
def delete(
    ref: Annotated[str, typer.Argument(help="Document id or path")],
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Delete a document and everything derived from it (chunks, vectors, full-text rows)."""
    with workspace(data_dir, config) as ws:
        doc = ws.delete(ref)
    if as_json:
        emit({"deleted": doc.doc_id, "source": doc.source})
    else:
        err.print(f"deleted {doc.doc_id} ({doc.source})")


@app.command()
@guarded
def search(
    query: Annotated[str, typer.Argument(help="What to look for")],
    k: Annotated[
        int | None, typer.Option("--k", min=1, max=1000, help="Number of results (default: retrieval.k)")
    ] = None,
    mode: Annotated[str, typer.Option(help="hybrid, bm25 or dense")] = "hybrid",
    filters: Filter = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
) -> None:
    """Hybrid search (BM25 + dense, fused); prints the best chunks."""
    if mode not in ("hybrid", "bm25", "dense"):
        raise ValueError(f"--mode must be hybrid, bm25 or dense, not '{mode}'")
    with workspace(data_dir, config) as ws:
        results = ws.search(query, k, parse_filters(filters), mode=mode)
    if as_json:
        keys = ("doc_id", "chunk_id", "source", "score", "text", "title", "heading_path", "page", "location")
        emit({"results": [{key: r.to_dict()[key] for key in keys} for r in results]})
        return
    for i, r in enumerate(results, start=1):
        out.print(f"[bold]{i}. {escape(r.location)}[/bold]  score {r.score:.4f}", markup=True)
        out.print("   " + " ".join(r.text.split())[:300], markup=False)


@app.command()
@guarded
def ask(
    question: Annotated[str, typer.Argument(help="Your question")],
    filters: Filter = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Json = False,
    agent: Annotated[
        bool, typer.Option("--agent", help="let the [answer] model search as often as it needs, then answer")
    ] = False,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, max=20, help="agent turns, at most [answer] agent_max_steps")
    ] = None,
) -> None:
    """Answer from the documents; every sentence cites its sources. Abstains when evidence is weak."""
    with workspace(data_dir, config) as ws:
        answer = ws.ask(question, parse_filters(filters), agent=agent, max_steps=max_steps)
    if as_json:
        data = answer.to_dict()
        data["citations"] = [
            {k: c[k] for k in ("n", "doc_id", "chunk_id", "source", "text", "score", "location")}
            for c in data["citations"]
        ]
        emit(data)
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
    if answer.agent:
        searches = [s["query"] for step in answer.agent["steps"] for s in step["searches"]]
        err.print(f"agent: {answer.agent['status']} after {len(answer.agent['steps'])} steps; searched {searches}")


app.add_typer(eval_app, name="eval")
app.add_typer(models_app, name="models")
app.command()(guarded(chat))
app.command()(guarded(usage))
app.command()(guarded(serve))
app.add_typer(keys_app, name="keys")
app.add_typer(store_app, name="store")
app.command()(guarded(audit))
app.add_typer(traces_app, name="traces")
app.command()(guarded(feedback))
app.command()(guarded(learn))
app.command()(guarded(mcp))
app.command()(guarded(calibrate))
eval_app.add_typer(dataset_app, name="dataset")
app.add_typer(guard_app, name="guard")


def main() -> None:
    app()
