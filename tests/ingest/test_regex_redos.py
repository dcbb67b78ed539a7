"""Uploads built to make ingestion's regexes backtrack. HTML and Markdown are parsed in the one
job thread every tenant's uploads share (only DOCX and PDF get the child with a deadline), so a
page whose heading is 40,000 pilcrows and a letter held every tenant's ingestion for seconds
(`[\\s¶§🔗]+$`, quadratic: 30,000 marks 7 s). Each attack is timed at a size where the old code
took seconds (generous bound: one second), and the time is checked to grow linearly."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from ragwright.ingest.parsers import parse_html, parse_markdown
from ragwright.ingest.pdf import _join_lines


def _heading_page(n: int) -> str:
    return "<html><body><h1>" + "¶" * n + "x</h1><p>text</p><dl><dt>" + "§ " * n + "y</dt><dd>z</dd></dl></body></html>"


def _html_block(n: int) -> str:
    return "# Notes\n\n<div>" + "<" * n + "\n\nafter\n"


def _long_words(n: int) -> None:
    _join_lines(["a" * n, "b" * n + "-", "c"], set())


ATTACKS: dict[str, Callable[[int], object]] = {
    "html heading of marks": lambda n: parse_html(_heading_page(n)),
    "markdown html block of <": lambda n: parse_markdown(_html_block(n)),
    "pdf lines of long words": _long_words,
}


def _took(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_forty_thousand_characters_take_well_under_a_second(attack: Callable[[int], object]) -> None:
    assert _took(lambda: attack(40_000)) < 1.0


@pytest.mark.parametrize("attack", ATTACKS.values(), ids=ATTACKS.keys())
def test_time_grows_linearly(attack: Callable[[int], object]) -> None:
    small = _took(lambda: attack(40_000))
    large = _took(lambda: attack(160_000))
    assert large < 10 * max(small, 0.02)


def test_the_page_still_reads_as_before() -> None:
    from ragwright.ingest.html_blocks import strip_marks

    doc = parse_html(_heading_page(3))
    assert [b.text for b in doc.blocks][:1] == ["¶¶¶x"]
    assert strip_marks("Install ¶ \n§🔗\u2028") == "Install"
    assert strip_marks("¶ ¶") == ""
    md = parse_markdown(_html_block(3))
    assert [b.text for b in md.blocks] == ["Notes", "<<<", "after"]
    assert _join_lines(["exam-", "ple"], set()) == "example"
    assert _join_lines(["self-", "made"], {"self-made"}) == "self-made"
