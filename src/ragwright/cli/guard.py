"""`ragwright guard scan` and `ragwright guard redact`: PII and prompt-injection checks from the
command line, on one text or on a JSONL file of many.

One text comes as the argument, or from standard input when it is `-`. `--file F` (`-` for
standard input) takes JSON Lines with a "text" field per line and prints JSON Lines: exactly one
object per input line, in the same order, written batch by batch as they are done, with the models
loaded once. A line that is not a JSON object with a string "text" (a blank line too) gets
`{"error": "line N: ...", "line": N}` in its place and the same message on stderr; every other line
is still processed, and the exit code is 1 at the end. Usage errors exit 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from .common import EXIT_FAILED_FILES, Json, emit, err, guarded, out

if TYPE_CHECKING:
    from ..guard.pii import PiiSpan

guard_app = typer.Typer(no_args_is_help=True, help="Find PII and prompt injection in text; redact PII (all offline).")

BATCH = 32  # lines scanned together: the name tagger's model runs in batches
MODES = ("mask", "placeholder", "pseudonym")
SOURCES = ("user", "retrieved")

Text = Annotated[
    str | None, typer.Argument(help="The text ('-' reads standard input); or use --file", show_default=False)
]
File = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="JSONL with a \"text\" field per line ('-': standard input); prints one JSON object "
        'per line, in order, an {"error", "line"} object for a bad line',
        show_default=False,
    ),
]
Source = Annotated[
    str,
    typer.Option(
        help="Whose text: 'user' (a message) or 'retrieved' (a document chunk); each has its own injection threshold"
    ),
]
Mode = Annotated[
    str,
    typer.Option(
        help="mask (*****), placeholder (<PERSON>) or pseudonym (<PERSON_1>, numbered "
        "per text; --json adds the mapping back)"
    ),
]
Process = Callable[[Sequence[str]], list[dict[str, Any]]]  # texts -> one JSON-ready result each


def _one_text(text: str | None, file: Path | None) -> str | None:
    """The single text to process, or None when --file is used; a ValueError (exit 2) for neither or both."""
    if (text is None) == (file is None):
        raise ValueError(
            "give a TEXT argument ('-' for standard input) or --file F, not both"
            if text is not None
            else "give a TEXT argument ('-' for standard input) or --file F"
        )
    if text is None:
        return None
    return sys.stdin.read() if text == "-" else text


def _lines(file: Path) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text, error) for every line of a JSONL file: exactly one of text and error is set."""
    if str(file) == "-":
        yield from _parse(sys.stdin.buffer)
        return
    try:
        fh = file.open("rb")
    except OSError as exc:
        raise ValueError(f"cannot read {file}: {exc.strerror or exc}") from None
    with fh:
        yield from _parse(fh)


def _parse(fh: IO[bytes]) -> Iterator[tuple[int, str | None, str | None]]:
    for n, raw in enumerate(fh, start=1):
        try:
            row = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            yield n, None, f"line {n}: not UTF-8"
            continue
        except ValueError as exc:
            what = "blank line" if not raw.strip() else f"not JSON ({exc})"
            yield n, None, f'line {n}: {what}; expected an object with a "text" field'
            continue
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            yield n, None, f'line {n}: expected a JSON object with a string "text" field'
            continue
        yield n, row["text"], None


def _run_file(file: Path, process: Process) -> None:
    """Stream a JSONL file through `process` (texts -> one result object each) in batches, in order."""
    failed = 0
    batch: list[tuple[int, str | None, str | None]] = []

    def flush() -> None:
        results = iter(process([text for _, text, error in batch if error is None and text is not None]))
        for n, _, error in batch:
            emit(next(results) if error is None else {"error": error, "line": n})
        sys.stdout.flush()
        batch.clear()

    for n, text, error in _lines(file):
        if error is not None:
            failed += 1
            err.print(f"error: {error}", markup=False)
        batch.append((n, text, error))
        if len(batch) >= BATCH:
            flush()
    flush()
    if failed:
        err.print(f"{failed} line(s) could not be read; their output lines hold the error")
        raise typer.Exit(EXIT_FAILED_FILES)


def _spans(spans: Sequence[PiiSpan]) -> list[dict[str, Any]]:
    return [asdict(s) for s in spans]


def _check_choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, not '{value}'")


def _run(text: str | None, file: Path | None, as_json: bool, process: Process) -> tuple[str, dict[str, Any]] | None:
    """Stream --file, or print one text's JSON; (text, result) when the caller is to render it for a person."""
    single = _one_text(text, file)
    if single is None:
        assert file is not None
        _run_file(file, process)
        return None
    result = process([single])[0]
    if as_json:
        emit(result)
        return None
    return single, result


@guard_app.command()
@guarded
def scan(text: Text = None, file: File = None, source: Source = "user", as_json: Json = False) -> None:
    """Find PII (Presidio's labels) and score prompt injection (the cascade the server uses)."""
    from ..guard.cascade import default_cascade
    from ..guard.pii import default_detector

    _check_choice("--source", source, SOURCES)
    pii, injection = default_detector(), default_cascade()

    def process(texts: Sequence[str]) -> list[dict[str, Any]]:
        found = pii.scan_many(texts) if texts else []
        verdicts = injection.check_many(texts, source) if texts else []
        return [
            {
                "pii": _spans(f),
                "injection": {
                    "score": v.score,
                    "flagged": v.flagged,
                    "reasons": v.reasons,
                    "second_stage": v.second_stage,
                },
            }
            for f, v in zip(found, verdicts, strict=True)
        ]

    shown = _run(text, file, as_json, process)
    if shown is not None:
        _render_scan(*shown, injection.threshold(source))


@guard_app.command()
@guarded
def redact(text: Text = None, file: File = None, mode: Mode = "placeholder", as_json: Json = False) -> None:
    """Replace the PII in text; prints the redacted text (with --json: the text, the spans, the mapping)."""
    from ..guard.pii import default_detector
    from ..guard.redact import Pseudonymizer
    from ..guard.redact import redact as redact_text

    _check_choice("--mode", mode, MODES)
    pii = default_detector()

    def process(texts: Sequence[str]) -> list[dict[str, Any]]:
        results = []
        for t, found in zip(texts, pii.scan_many(texts) if texts else [], strict=True):
            names = Pseudonymizer() if mode == "pseudonym" else None  # one per text: placeholders are per request
            # mode is one of MODES (checked above), which the Literal parameter cannot know of a CLI string
            item: dict[str, Any] = {"text": redact_text(t, found, mode, names), "pii": _spans(found)}  # type: ignore[arg-type]
            if names is not None:
                item["mapping"] = names.mapping
            results.append(item)
        return results

    shown = _run(text, file, as_json, process)
    if shown is None:
        return
    result = shown[1]
    out.print(result["text"], markup=False, highlight=False, end="" if result["text"].endswith("\n") else "\n")
    for placeholder, value in result.get("mapping", {}).items():
        err.print(f"{placeholder} = {value}", markup=False)


# -- human-readable output -------------------------------------------------------------------

_STYLES = {
    "PERSON": "bold magenta",
    "ORGANIZATION": "bold blue",
    "LOCATION": "bold green",
    "STREET_ADDRESS": "green",
    "EMAIL_ADDRESS": "bold cyan",
    "URL": "cyan",
    "PHONE_NUMBER": "bold yellow",
}


def _render_scan(text: str, result: dict[str, Any], threshold: float) -> None:
    from rich.table import Table
    from rich.text import Text as RichText

    shown = RichText(text)
    for s in result["pii"]:
        shown.stylize(_STYLES.get(s["label"], "bold red"), s["start"], s["end"])
    out.print(shown)
    if result["pii"]:
        table = Table(title=f"PII: {len(result['pii'])} found", title_justify="left", show_edge=False)
        for col in ("label", "text", "score", "at"):
            table.add_column(col, justify="right" if col in ("score", "at") else "left")
        for s in result["pii"]:
            table.add_row(s["label"], RichText(s["text"]), f"{s['score']:.2f}", f"{s['start']}-{s['end']}")
        out.print(table)
    else:
        out.print("PII: none found")
    inj = result["injection"]
    verdict = "[bold red]FLAGGED[/bold red]" if inj["flagged"] else "[green]not flagged[/green]"
    why = f" ({', '.join(inj['reasons'])})" if inj["reasons"] else ""
    out.print(f"Prompt injection: {verdict}, score {inj['score']:.3f} (threshold {threshold:.2f}){why}", markup=True)
