"""bench/evidence_ranks.py: which chunk counts as holding the answer, and the summary of ranks."""

import importlib.util
from pathlib import Path

from ragwright.types import SearchResult

_PATH = Path(__file__).resolve().parents[2] / "bench" / "evidence_ranks.py"
_spec = importlib.util.spec_from_file_location("evidence_ranks", _PATH)
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

ROW = {"source": "runtime-config-connection.html", "check": [r"\b100\b", "connections?"]}


def _result(source: str, text: str) -> SearchResult:
    return SearchResult("d", "d#0", f"/corpus/{source}", 1.0, text)


def test_a_chunk_holds_the_answer_when_every_check_matches_on_the_source_page():
    good = _result("runtime-config-connection.html", "The default is typically 100 Connections.")
    assert bench.passes(ROW, good, any_page=False)
    assert not bench.passes(ROW, _result("runtime-config-connection.html", "The default is 1000 connections."), False)
    elsewhere = _result("tutorial-arch.html", "A server takes 100 connections.")
    assert not bench.passes(ROW, elsewhere, any_page=False) and bench.passes(ROW, elsewhere, any_page=True)


def test_summary_counts_hits_at_each_cut_and_missing_answers():
    per = {"a": {"hybrid": 1}, "b": {"hybrid": 4}, "c": {"hybrid": 22}, "d": {"hybrid": None}}
    summary = bench.summarise(per)
    assert [summary[f"at_{n}"] for n in bench.CUTS] == [1, 1, 2, 2]
    assert summary["missing"] == 1 and summary["mrr"] == round((1 + 1 / 4 + 1 / 22) / 4, 3)
