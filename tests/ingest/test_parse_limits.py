"""Issue 16, item 5, as the attack: small DOCX and PDF files made to hold the parser for minutes
or take gigabytes. Each must be refused or stopped within its limit, and the memory it took must
not stay with the process that asked."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from ragwright.config import IngestSettings
from ragwright.ingest.limits import ParseLimits, parse_bounded
from ragwright.ingest.parsers import ParseError, parse

from .hostile_files import empty_paragraphs_docx, slow_pdf

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sample-corpus"


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1048576


def _forkserver_children(parent: int | None = None) -> list[int]:
    """Processes the forkserver started (a parse in progress), found from its parent's children."""
    me = os.getpid() if parent is None else parent
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(status.split("PPid:")[1].split()[0])
        if ppid == me and b"forkserver" in cmdline:
            found += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return found


@pytest.fixture(scope="module")
def limits() -> ParseLimits:
    """Default limits, with the forkserver already started (1-3 s, once a process)."""
    limits = ParseLimits.of(IngestSettings())
    sample = SAMPLES / "remote-work.pdf"
    parse_bounded(sample, sample.read_bytes(), limits)
    return limits


def test_a_docx_of_empty_paragraphs_is_refused_at_once(limits):
    bomb = empty_paragraphs_docx(20)
    member = zipfile.ZipFile(io.BytesIO(bomb)).getinfo("word/document.xml")
    assert len(bomb) < 100_000 and member.file_size / member.compress_size < 1000  # passes the zip-bomb checks
    before = _rss_mb()
    started = time.monotonic()
    with pytest.raises(ParseError, match=r"over 1,000,000 XML elements .*ingest\.max_docx_xml_elements"):
        parse_bounded(Path("bomb.docx"), bomb, limits)
    assert time.monotonic() - started < 10  # 82 s before
    assert _rss_mb() - before < 50  # 1.2 GB before, kept after the parse


def test_a_docx_expanding_to_150_mib_is_refused(limits):
    bomb = empty_paragraphs_docx(150)
    assert len(bomb) < 400_000  # 263 KB
    with pytest.raises(ParseError, match=r"limit: .*ingest\.max_docx_(uncompressed_mb|xml_elements)"):
        parse_bounded(Path("bomb.docx"), bomb, limits)


def test_the_memory_ceiling_stops_a_parse_the_counts_let_through(limits):
    raised = ParseLimits(limits.timeout_s, 128, limits.max_docx_bytes, max_docx_elements=10**9)
    bomb = empty_paragraphs_docx(5)  # 875,000 paragraphs: about 300 MB in python-docx
    before = _rss_mb()
    with pytest.raises(ParseError, match=r"more than 128 MB of memory .*ingest\.parse_memory_mb"):
        parse_bounded(Path("bomb.docx"), bomb, raised)
    assert _rss_mb() - before < 50
    assert not _forkserver_children()


def test_a_slow_pdf_is_stopped_at_the_deadline(limits):
    quick = ParseLimits(1.0, limits.memory_mb, limits.max_docx_bytes, limits.max_docx_elements)
    pdf = slow_pdf(1_000_000)  # about a minute of pypdf
    assert len(pdf) < 20_000
    started = time.monotonic()
    with pytest.raises(ParseError, match=r"stopped after 1 s .*ingest\.parse_timeout_s"):
        parse_bounded(Path("slow.pdf"), pdf, quick)
    assert time.monotonic() - started < 4
    assert not _forkserver_children()  # killed, not left running


def test_a_parse_ends_with_the_server_that_asked_for_it(tmp_path):
    """A server killed mid-parse must not leave the child reading a hostile file for minutes."""
    script = (
        "from pathlib import Path\nfrom ragwright.ingest.limits import ParseLimits, parse_bounded\n"
        "from tests.ingest.hostile_files import slow_pdf\n"
        "parse_bounded(Path('slow.pdf'), slow_pdf(2_000_000), ParseLimits(120, 1024, 10**8, 10**6))\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.monotonic() + 60
        while not (children := _forkserver_children(server.pid)):
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        server.send_signal(signal.SIGKILL)
        server.wait()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in children):
            assert time.monotonic() < deadline, "the parse outlived its server"
            time.sleep(0.1)
    finally:
        server.kill()


@pytest.mark.parametrize("name", ["equipment.docx", "remote-work.pdf"])
def test_ordinary_files_parse_the_same_in_the_child(limits, name):
    path = SAMPLES / name
    data = path.read_bytes()
    assert parse_bounded(path, data, limits) == parse(path, data, max_docx_bytes=limits.max_docx_bytes)


def test_errors_of_the_parser_come_back_from_the_child(limits):
    with pytest.raises(ParseError, match="not a valid zip"):
        parse_bounded(Path("fake.docx"), b"PK\x03\x04 broken", limits)


def test_the_limits_are_settings():
    settings = IngestSettings(
        parse_timeout_s=5, parse_memory_mb=256, max_docx_xml_elements=10, max_docx_uncompressed_mb=1
    )
    assert ParseLimits.of(settings) == ParseLimits(5.0, 256, 1048576, 10)
