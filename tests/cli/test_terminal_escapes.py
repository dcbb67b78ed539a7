"""Text that others wrote reaches the operator's terminal through the CLI: shown, never obeyed."""

from __future__ import annotations

import io

from rich.table import Table

from ragwright.cli.common import _Console
from tests.cli.test_cli import run

ATTACK = "budget \x1b]0;owned\x07 \x1b[2J \x9b31m report\r"


def test_a_question_with_escape_sequences_is_listed_escaped(tmp_path, corpus):
    data = str(tmp_path / "data")
    run("ingest", str(corpus), "--data-dir", data)
    run("search", ATTACK, "--data-dir", data)
    listed = run("traces", "list", "--data-dir", data).stdout
    assert "\x1b" not in listed and "\x9b" not in listed and "\r" not in listed  # were passed through
    assert "\\x1b]0;owned\\x07" in listed and "\\x1b[2J" in listed and "\\x9b31m" in listed


def test_the_consoles_own_styles_stay_and_cells_are_escaped():
    console = _Console(file=io.StringIO(), force_terminal=True, highlight=False)
    table = Table("name")
    table.add_row("q\x1b[2Jz")
    console.print("[bold]ok[/bold]\tnext\nline")
    console.print(table)
    shown = console.file.getvalue()
    assert "\x1b[1mok\x1b[0m" in shown and "next\nline" in shown  # styling, tabs and line breaks kept
    assert "q\\x1b[2Jz" in shown and "\x1b[2J" not in shown


def test_json_output_escapes_del_and_c1_controls(tmp_path, corpus):
    """json.dumps(ensure_ascii=False) escapes C0 only: U+009B (CSI) and U+009D (OSC) went out raw
    in `--json` output (review 15b), and terminals act on them as on ESC [ and ESC ]."""
    import json

    data = str(tmp_path / "data")
    run("ingest", str(corpus), "--data-dir", data)
    attack = "budget \x9b2J \x9d0;owned\x9c \x7f report é"
    run("search", attack, "--data-dir", data)
    listed = run("traces", "list", "--json", "--data-dir", data).stdout
    assert not any(ch in listed for ch in "\x7f\x9b\x9c\x9d") and "\\u009b2J" in listed and "é" in listed
    assert "\x9b2J" in json.dumps(json.loads(listed), ensure_ascii=False)  # the same data, escaped
