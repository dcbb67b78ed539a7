"""What every command shares: consoles, options, error handling, JSON output (progress: progress.py)."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import RagwrightError
from ..workspace import Workspace

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (default: $RAGWRIGHT_HOME or ./.ragwright)")
]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="Config file (default: ./ragwright.toml if present)")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout")]
Filter = Annotated[
    list[str] | None,
    typer.Option("--filter", help="FIELD=VALUE (doc_id, source, format, title, metadata.KEY); repeatable"),
]

EXIT_FAILED_FILES, EXIT_ERROR, EXIT_INTERRUPTED = 1, 2, 130


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
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


def workspace(data_dir: Path | None, config: Path | None) -> Workspace:
    return Workspace(data_dir, config_file=config)


def emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")


def parse_filters(items: list[str] | None) -> dict[str, list[str]] | None:
    if not items:
        return None
    out: dict[str, list[str]] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--filter '{item}' must look like FIELD=VALUE, e.g. format=pdf")
        key, value = item.split("=", 1)
        out.setdefault(key.strip(), []).append(value)
    return out
