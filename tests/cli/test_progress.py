"""Ingest is never silent: a Rich bar with an ETA on a terminal (test_cli.py), and when stderr is
a log or a pipe, a plain line every few seconds with the count, the time elapsed and an ETA."""

from __future__ import annotations

import io
import json
import time

from rich.console import Console
from typer.testing import CliRunner

from ragwright.cli import progress as progress_module
from ragwright.cli.app import app
from ragwright.cli.progress import Tally, duration, progress


def test_the_plain_line_says_how_far_how_long_and_how_much_longer():
    now = [100.0]
    tally = Tally("ingest", "files", clock=lambda: now[0])
    tally.total, tally.done = 175, 119.6  # a batch's files advance in fractions while it embeds
    now[0] += 40
    assert tally.line() == "ingest: 119/175 files, 40 s elapsed, ETA 19 s"
    tally.total = None
    assert tally.line() == "ingest: 119 files, 40 s elapsed"  # no total, no ETA


def test_durations_read_like_a_person_would_say_them():
    assert [duration(s) for s in (0.4, 40, 185, 3725)] == ["0 s", "40 s", "3 min 05 s", "1 h 02 min"]


def test_off_a_terminal_a_line_comes_every_interval():
    sink = io.StringIO()
    shown = progress(True, console=Console(file=sink, force_terminal=False), every_s=0.05)
    with shown as (advance, on_start):
        on_start(10)
        advance(3, "a.md")
        time.sleep(0.3)
    lines = sink.getvalue().splitlines()
    assert len(lines) >= 3 and all(line.startswith("ingest: 3/10 files, 0 s elapsed, ETA ") for line in lines)
    quick = io.StringIO()
    with progress(True, console=Console(file=quick, force_terminal=False), every_s=60) as (advance, on_start):
        advance(1, "a.md")
    assert quick.getvalue() == ""  # a run shorter than the interval prints no progress at all


def test_ingest_off_a_terminal_prints_progress_on_stderr_and_clean_json_on_stdout(tmp_path, corpus, monkeypatch):
    monkeypatch.setattr(progress_module, "EVERY_S", 0.05)
    monkeypatch.setenv("RAGWRIGHT_INGEST__BATCH_CHUNKS", "1")  # a batch a file: ticks come between them, with an ETA
    (corpus / "logo.png").write_bytes(b"\x89PNG")
    result = CliRunner().invoke(app, ["ingest", str(corpus), "--data-dir", str(tmp_path / "d"), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)  # stdout is the JSON alone
    assert summary["ingested"] == 6 and summary["skipped"] == [
        {"path": str(corpus / "logo.png"), "reason": "unsupported type .png"}
    ]
    assert "ingest: " in result.stderr and "/6 files, " in result.stderr and " elapsed" in result.stderr
    assert "ETA " in result.stderr


def test_skipped_files_are_named_with_the_reason_then_counted(tmp_path, corpus):
    for i in range(12):
        (corpus / f"shot{i:02}.png").write_bytes(b"\x89PNG")
    (corpus / "notes.rtf").write_text("{\\rtf1}")
    result = CliRunner().invoke(app, ["ingest", str(corpus), "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert f"skipped: {corpus / 'notes.rtf'}: unsupported type .rtf" in lines
    assert f"skipped: {corpus / 'shot00.png'}: unsupported type .png" in lines
    assert "skipped: 3 more (3 unsupported type .png; --json lists them all)" in lines
    assert "6 ingested, 0 unchanged, 0 failed, 13 skipped, " in result.stderr
