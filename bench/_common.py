"""Shared helpers for the benchmarks: where the data is, how to read it, how to report.

Each benchmark prints a human table to stderr and one JSON object, last, to stdout, and
compares ragwright against peers measured in the same run (ratios, not absolute seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# The repo lives at <root>/main; the shared data beside it at <root>/shared/data.
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def add_data_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"folder holding scifact/corpus.jsonl and scifact/queries.jsonl (default: {DEFAULT_DATA})",
    )


def scifact_paths(data: Path) -> tuple[Path, Path]:
    """corpus.jsonl and queries.jsonl, or exit 2 with a message saying what is missing."""
    root = data / "scifact" if (data / "scifact").is_dir() else data
    corpus, queries = root / "corpus.jsonl", root / "queries.jsonl"
    missing = [p for p in (corpus, queries) if not p.is_file()]
    if missing:
        names = ", ".join(str(p) for p in missing)
        sys.exit(
            f"bench: SciFact data not found (missing: {names}).\n"
            f"Put the BEIR SciFact files (corpus.jsonl, queries.jsonl) under {data}/scifact/ "
            f"or point --data at the folder that holds them."
        )
    return corpus, queries


def load_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
                if limit is not None and len(rows) >= limit:
                    break
    return rows


def git_state() -> dict[str, Any] | None:
    """The commit measured, and whether src/ differed from it (uncommitted edits) at start."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": commit, "src_uncommitted": [line[3:] for line in dirty if line.strip()]}


_GIT_AT_START = git_state()


def environment() -> dict[str, Any]:
    import onnxruntime

    import ragwright

    return {
        "git": _GIT_AT_START,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
        "ragwright": ragwright.__version__,
    }


@dataclass
class Stopwatch:
    """Accumulated time of the calls to wrapped functions, by name."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed

    @contextmanager
    def patch(self, owner: Any, attr: str, name: str | None = None) -> Iterator[None]:
        """Time every call of owner.attr (an instance or a class) while the block runs."""
        own = attr in vars(owner)
        original = vars(owner)[attr] if own and isinstance(owner, type) else getattr(owner, attr)
        setattr(owner, attr, self.wrap(name or attr, original))
        try:
            yield
        finally:
            if own:
                setattr(owner, attr, original)
            else:
                delattr(owner, attr)

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def percentiles_ms(samples_s: Sequence[float]) -> dict[str, float]:
    a = np.asarray(samples_s, dtype=np.float64) * 1000.0
    return {
        "n": int(a.size),
        "p50": round(float(np.percentile(a, 50)), 3),
        "p95": round(float(np.percentile(a, 95)), 3),
        "p99": round(float(np.percentile(a, 99)), 3),
        "mean": round(float(a.mean()), 3),
        "max": round(float(a.max()), 3),
    }


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(h) for h in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def say(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    """The machine-readable result: one JSON object, the last thing on stdout."""
    sys.stdout.flush()
    print(json.dumps(result, indent=2, sort_keys=False), flush=True)


class MachineLoad:
    """CPU time spent by other processes (and other guests) while a benchmark ran.

    The benchmarks compare peers within one run, but another process competing for the same
    2 cores still skews them: this says how much competition there was.
    """

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float, float] | None:
        try:
            with open("/proc/stat", encoding="ascii") as fh:
                f = [int(x) for x in fh.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        tick = os.sysconf("SC_CLK_TCK")
        busy = (f[0] + f[1] + f[2] + f[5] + f[6]) / tick  # user nice system irq softirq
        steal = (f[7] if len(f) > 7 else 0) / tick
        own = os.times()
        return busy, steal, own.user + own.system, time.perf_counter()

    def report(self) -> dict[str, Any] | None:
        end = self._sample()
        if end is None or self.start is None:
            return None
        busy, steal, own, wall = (e - s for e, s in zip(end, self.start, strict=True))
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        other = max(busy - own, 0.0)
        return {
            "wall_s": round(wall, 1),
            "own_cpu_s": round(own, 1),
            "other_processes_cpu_s": round(other, 1),
            "other_processes_share_of_machine": round(other / max(wall * cpus, 1e-9), 3),
            "steal_s": round(steal, 1),
        }


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a live process (all its threads) and of its live children
    (a server's worker processes), from /proc; None when it is gone."""
    total = None
    for p in [pid, *children_of(pid)]:
        try:
            with open(f"/proc/{p}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total = (total or 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            continue
    return total


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            return [int(c) for c in fh.read().split()]
    except (OSError, ValueError):
        return []


class LoadBesideChildren:
    """MachineLoad, less the CPU of this benchmark's own child processes (`started`: servers,
    workers, clients), which MachineLoad would count as other processes; as a share of all the
    machine's cores (a benchmark process may be pinned to one)."""

    def __init__(self, started: Sequence[Any]) -> None:
        self.started = started
        self.machine = MachineLoad()
        self.children = self._children_cpu_s()

    def _children_cpu_s(self) -> float:
        """Children still running (from /proc) plus those already waited for (os.times)."""
        total = sum(proc_cpu_s(p.pid) or 0.0 for p in self.started if p.returncode is None)
        t = os.times()
        return total + t.children_user + t.children_system

    def report(self) -> dict[str, Any] | None:
        r = self.machine.report()
        if r is None:
            return None
        own_children = self._children_cpu_s() - self.children
        other = max(r["other_processes_cpu_s"] - own_children, 0.0)
        cpus = os.cpu_count() or 1  # the machine's, not this (maybe pinned) process's
        r["bench_children_cpu_s"] = round(own_children, 1)
        r["other_processes_cpu_s"] = round(other, 1)
        r["other_processes_share_of_machine"] = round(other / max(r["wall_s"] * cpus, 1e-9), 3)
        return r


def say_machine_load(m: dict[str, Any] | None, steal: bool = False) -> None:
    if m:
        say(
            f"machine load: other processes used {m['other_processes_cpu_s']} CPU-s "
            f"({100 * m['other_processes_share_of_machine']:.0f}% of the machine) during this {m['wall_s']} s run"
            + (f"; steal {m['steal_s']} s" if steal else "")
        )


def cpu_steal_s() -> float | None:
    """Seconds of CPU the hypervisor gave to other guests since boot (Linux), summed over CPUs."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def record_chunk_texts(chunker: Any, rec: Any) -> list[str]:
    """The texts Ingestor.ingest_records embeds for a new TextRecord: blocks split on blank
    lines, chunked (with the title, where the Chunker reserves room for it), each chunk's
    context_text(title). The benchmarks check this against what the pipeline really embeds."""
    import inspect

    from ragwright.types import Block

    blocks = [Block(p) for p in rec.text.split("\n\n") if p.strip()] or [Block(rec.text)]
    if "title" in inspect.signature(chunker.chunk).parameters:
        chunks = chunker.chunk(rec.id, blocks, rec.title)
    else:
        chunks = chunker.chunk(rec.id, blocks)
    return [c.context_text(rec.title) for c in chunks]
