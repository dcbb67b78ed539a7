"""Progress of a long command (ingest, evaluation) on stderr, so that `--json` stdout stays clean.

On a terminal: a Rich bar with the count, time elapsed and an ETA. Anywhere else (a log file, a
pipe, CI, `nohup`): a plain line every few seconds, such as
`ingest: 120/175 files, 40 s elapsed, ETA 18 s`. The lines come from a timer thread, not from
the work's callbacks, because the work is silent for long stretches: ingest embeds a batch of
documents at once, and loading the model precedes the first file. A run shorter than the
interval prints no progress line at all."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress

from rich.console import Console

from .common import err

EVERY_S = 5.0  # seconds between two plain lines
Advance = Callable[[float, str], None]  # (work done, current item)
OnStart = Callable[[int], None]  # the total, once known


def duration(seconds: float) -> str:
    """40 s, 3 min 05 s, 1 h 02 min: precise enough for a person, short enough for a log line."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Tally:
    """What is done, of how many, since when; and the line that says so."""

    def __init__(self, label: str, unit: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self.unit, self.clock = label, unit, clock
        self.started = clock()
        self.done = 0.0
        self.total: int | None = None

    def eta(self) -> float | None:
        """Remaining time at the average pace so far (steadier than a recent window: files differ
        in size far more than the pace of the machine changes)."""
        if not self.total or not self.done:
            return None
        return (self.clock() - self.started) / self.done * max(self.total - self.done, 0)

    def line(self) -> str:
        done = int(self.done)  # a batch's files advance in fractions as its chunks are embedded
        count = f"{done:,}/{self.total:,}" if self.total is not None else f"{done:,}"
        text = f"{self.label}: {count} {self.unit}, {duration(self.clock() - self.started)} elapsed"
        eta = self.eta()
        return text + (f", ETA {duration(eta)}" if eta is not None else "")


class _Ticker:
    """Writes the tally's line every `every_s` seconds until stopped."""

    def __init__(self, tally: Tally, stream: IO[str], every_s: float) -> None:
        self.tally, self.stream, self.every_s = tally, stream, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.stream.write(self.tally.line() + "\n")
            self.stream.flush()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)


class progress:
    """`with progress(enabled) as (advance, on_start)`: advance(n, item) after each item,
    on_start(total) once the total is known. (None, None) when disabled."""

    def __init__(
        self,
        enabled: bool,
        *,
        label: str = "ingest",
        unit: str = "files",
        verb: str = "ingesting",
        console: Console | None = None,
        every_s: float | None = None,
    ) -> None:
        self.enabled, self.verb = enabled, verb
        self.console = console or err
        self.tally = Tally(label, unit)
        self.every_s = EVERY_S if every_s is None else every_s
        self._bar: Progress | None = None
        self._ticker: _Ticker | None = None

    def __enter__(self) -> tuple[Advance, OnStart] | tuple[None, None]:
        if not self.enabled:
            return None, None
        if self.console.is_terminal:
            return self._start_bar()
        self._ticker = _Ticker(self.tally, self.console.file, self.every_s)
        self._ticker.start()
        tally = self.tally

        def advance(n: float, item: str) -> None:
            tally.done += n

        def on_start(total: int) -> None:
            tally.total = total

        return advance, on_start

    def _start_bar(self) -> tuple[Advance, OnStart]:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = bar = Progress(
            TextColumn(f"[bold]{self.verb}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.description}"),
            console=self.console,
            transient=True,
        )
        bar.__enter__()
        task = bar.add_task("", total=None)

        def advance(n: float, item: str) -> None:
            bar.update(task, advance=n, description=item[:40])

        return advance, lambda total: bar.update(task, total=total)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._ticker is not None:
            self._ticker.stop()
        if self._bar is not None:
            self._bar.__exit__(kind, exc, tb)
