"""What every command shares: consoles, options, error handling, JSON output (progress: progress.py)."""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ..errors import RagwrightError
from ..workspace import Workspace

# control characters but line breaks and tabs: ESC and CSI start the terminal's escape sequences
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_C1 = re.compile("[\x7f-\x9f]")


class _Console(Console):
    """A console that shows a control character in any text it prints as its escape (\\x1b), so
    that text others wrote (a key's name, a question, a correction, an audit path) cannot
    drive the operator's terminal: Rich passes ESC sequences through (clear the screen, set the
    title, OSC 52 writes the clipboard). Rich renders every string through render_str: printed
    ones and a table's cells alike; its own styling is added after, so it is untouched."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(_CONTROL.sub(_shown, text), **kwargs)


def _shown(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


err = _Console(stderr=True, highlight=False, soft_wrap=True)
out = _Console(highlight=False, soft_wrap=True)

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
    """JSON on stdout; DEL and the C1 controls (json.dumps escapes only C0 without ensure_ascii)
    escaped too: U+009B starts a terminal's escape sequence as ESC [ does (review 15b)."""
    text = json.dumps(data, ensure_ascii=False)
    sys.stdout.write(_C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


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
