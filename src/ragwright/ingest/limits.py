"""Parsing a DOCX or PDF inside a deadline and a memory ceiling, in a child process.

Why a process: python-docx and pypdf hold a whole document in memory and spend their time in
code a thread cannot interrupt. A 31 KB DOCX of empty paragraphs took 82 s and 1.2 GB that the
server kept after the parse. A child is killed at the deadline (`ingest.parse_timeout_s`), its
address space is capped with RLIMIT_AS (`ingest.parse_memory_mb` above what it starts with), and
whatever it allocated goes back to the system when it exits. Children are forked from a
forkserver that imported the parsers once, never from the threaded server itself: about 10 ms a
file (measured: 6-25 ms on a loaded 2-core machine, against 20-50 ms to parse a small DOCX).
Text formats are parsed in the calling process: their memory is bounded by the file size.
HTML too, in time linear in the file (html.py measures each subtree once and reads markup nested
over 256 deep as text): a child costs about 14 ms a small page against 0.6 ms to parse it in
process, and 1,000 small pages ingested in 25-30 s instead of 13-17 s (December 2026, 2 cores).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import resource
import signal
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..types import ParsedDocument
from .parsers import ParseError, format_of, parse

if TYPE_CHECKING:
    from ..config import IngestSettings

ISOLATED_FORMATS = frozenset({"docx", "pdf"})
# __main__ (multiprocessing's default) once here, or each child imports it again: +30 ms a file
_PRELOAD = ["__main__", "ragwright.ingest.limits", "ragwright.ingest.pdf", "docx", "pypdf", "lxml.etree"]
_CONTEXT = multiprocessing.get_context("forkserver")
_preloaded = threading.Lock()
_preload_set = False


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """What one file's parse may take; each limit is the `[ingest]` setting of the same name."""

    timeout_s: float
    memory_mb: int
    max_docx_bytes: int
    max_docx_elements: int
    fallback_encodings: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: IngestSettings) -> ParseLimits:
        return cls(
            settings.parse_timeout_s,
            settings.parse_memory_mb,
            int(settings.max_docx_uncompressed_mb * 1024 * 1024),
            settings.max_docx_xml_elements,
            tuple(settings.fallback_encodings),
        )


def parse_bounded(path: Path, data: bytes, limits: ParseLimits) -> ParsedDocument:
    """`parse`, in a child process for the formats whose parsers can be made to explode."""
    if format_of(path) not in ISOLATED_FORMATS:
        return _parse(path, data, limits)
    return _in_child(path, data, limits)


def _parse(path: Path, data: bytes, limits: ParseLimits) -> ParsedDocument:
    return parse(
        path,
        data,
        fallback_encodings=list(limits.fallback_encodings),
        max_docx_bytes=limits.max_docx_bytes,
        max_docx_elements=limits.max_docx_elements,
    )


def _in_child(path: Path, data: bytes, limits: ParseLimits) -> ParsedDocument:
    _set_preload()
    receive, send = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(
        target=_child, args=(send, path, data, limits, os.getpid()), name="ragwright-parse", daemon=True
    )
    child.start()
    send.close()
    try:
        if not receive.poll(limits.timeout_s):
            raise ParseError(
                f"parsing was stopped after {limits.timeout_s:g} s (limit: ingest.parse_timeout_s); "
                "split the file, or raise the limit if it is trusted"
            )
        try:
            kind, value = receive.recv()
        except EOFError:  # died without a word: killed, or crashed in C code at the memory ceiling
            child.join(5)
            raise ParseError(_crash_message(child.exitcode, limits)) from None
    finally:
        receive.close()
        if child.is_alive():
            child.kill()
        child.join()
    if kind == "ok":
        document: ParsedDocument = value  # the child process sends the parsed document with "ok"
        return document
    if kind == "memory":
        raise ParseError(
            f"parsing needed more than {limits.memory_mb} MB of memory (limit: ingest.parse_memory_mb); "
            "split the file, or raise the limit if it is trusted"
        )
    raise ParseError(value)


def _crash_message(exitcode: int | None, limits: ParseLimits) -> str:
    if exitcode is not None and exitcode < 0:
        known = -exitcode in signal.valid_signals()
        how = f"signal {signal.Signals(-exitcode).name}" if known else f"signal {-exitcode}"
    else:
        how = f"exit code {exitcode}"
    return (
        f"the parser stopped ({how}), probably at the memory ceiling of {limits.memory_mb} MB "
        "(limit: ingest.parse_memory_mb)"
    )


def _set_preload() -> None:
    """The forkserver imports the parsers once; set before it starts (on the first parse)."""
    global _preload_set
    with _preloaded:
        if not _preload_set:
            _CONTEXT.set_forkserver_preload(_PRELOAD)
            _preload_set = True


def _child(send: Connection, path: Path, data: bytes, limits: ParseLimits, server: int) -> None:
    """Runs in the child: cap memory and CPU time, parse, send back the document or the reason."""
    ceiling = _cap(limits)
    _leave_with(server)
    reply: tuple[str, Any]
    try:
        reply = ("ok", _parse(path, data, limits))
    except MemoryError:
        reply = ("memory", "")
    except ParseError as exc:  # lxml reports its failed mallocs as a syntax error (ERR_NO_MEMORY)
        reply = ("memory", "") if _near(ceiling) else ("error", str(exc))
    except RecursionError:
        reply = ("error", "document nesting too deep to parse")
    except Exception as exc:  # noqa: BLE001 - a parser library's surprise, reported as the pipeline would
        reply = ("memory", "") if _near(ceiling) else ("error", f"cannot parse: {type(exc).__name__}: {exc}")
    del data
    try:
        send.send(reply)
    except MemoryError:
        send.send(("memory", ""))
    send.close()


def _cap(limits: ParseLimits) -> int:
    """RLIMIT_AS above the child's address space as it starts (the interpreter and the parsers'
    libraries are not the file's doing); RLIMIT_CPU as a backstop."""
    with open("/proc/self/statm", "rb") as fh:
        start = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    ceiling = _lower(resource.RLIMIT_AS, start + limits.memory_mb * 1024 * 1024)
    _lower(resource.RLIMIT_CPU, math.ceil(limits.timeout_s) + 5)
    return ceiling


def _leave_with(server: int) -> None:
    """Exit when the server is gone. Its death cannot be seen otherwise: the forkserver stays as
    long as any child holds multiprocessing's liveness pipe, and every child does."""

    def check(_signum: int, _frame: object) -> None:
        try:
            os.kill(server, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass  # alive, as another user: not ours, but not gone either

    signal.signal(signal.SIGALRM, check)
    signal.setitimer(signal.ITIMER_REAL, 1.0, 1.0)


def _near(ceiling: int) -> bool:
    """Whether the address space came within 5% of the ceiling: a failure then is its doing."""
    with open("/proc/self/status", "rb") as fh:
        peak = next(line for line in fh if line.startswith(b"VmPeak:"))
    return int(peak.split()[1]) * 1024 >= ceiling * 0.95


def _lower(which: int, value: int) -> int:
    """Set a soft limit, never above the one an operator already set; the limit in force."""
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    if soft == resource.RLIM_INFINITY or value < soft:
        resource.setrlimit(which, (value, hard))
        return value
    return soft
