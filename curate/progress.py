"""One progress helper for every long verb (generate, verify, dedup, decontaminate, coverage,
train, eval, probes, export).

In a terminal it draws a rich bar (description, bar, done/total, rate, elapsed, ETA and any
fields such as the loss). When stderr is not a terminal (a log file, a CI job, `nohup`), it
writes one plain line per task at a steady interval instead, from a background thread so that
a line comes even while the work is stuck waiting, plus a last line when the task ends:

    [generate] 1,234/46,000 (2.7%) · 12.3/s · elapsed 1m40s · ETA 1h02m · 64 in flight

Lives below every area (it imports nothing from curate), so catalog, curation, training and
probes all use it. `CURATE_PROGRESS=bar|log|off` overrides the terminal check and
`CURATE_PROGRESS_INTERVAL` (seconds, default 30) sets the log interval.

    with progress_bar() as bar:
        task = bar.add_task("verify", total=len(rows))
        for chunk in chunks:
            ...
            bar.advance(task, len(chunk))

    for row in track(rows, "scoring"):   # the same for an iterable
        ...
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

DEFAULT_INTERVAL = 30.0


def mode(stream: TextIO | None = None) -> str:
    """`bar` in a terminal, `log` otherwise; `CURATE_PROGRESS` overrides (bar|log|off)."""
    forced = os.environ.get("CURATE_PROGRESS", "").strip().lower()
    if forced in ("bar", "log", "off"):
        return forced
    stream = stream or sys.stderr
    try:
        return "bar" if stream.isatty() else "log"
    except (AttributeError, ValueError):
        return "log"


def interval() -> float:
    """Seconds between log lines (`CURATE_PROGRESS_INTERVAL`, default 30)."""
    try:
        return max(0.05, float(os.environ.get("CURATE_PROGRESS_INTERVAL", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def human_time(seconds: float | None) -> str:
    """12 -> '12s', 100 -> '1m40s', 3720 -> '1h02m'."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def _rate(r: float) -> str:
    """Items per second, readable at every speed: 1,234/s, 12.3/s, 0.25/s, and for work slower
    than one item in 10 s the time each takes ('1 per 22s'), never '0.0/s'."""
    if r >= 100:
        return f"{r:,.0f}/s"
    if r >= 1:
        return f"{r:,.1f}/s"
    if r >= 0.1:
        return f"{r:.2f}/s"
    return f"1 per {human_time(1 / r)}" if r > 0 else "?/s"


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    fields: dict[str, Any] = field(default_factory=dict)
    start: float = field(default_factory=time.monotonic)
    base: float = 0.0          # completed at start (resumed work does not count in the rate)
    finished: bool = False

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = now - self.start
        done = self.completed - self.base
        rate = done / elapsed if elapsed > 0 and done > 0 else 0.0
        parts = []
        if self.total:
            pct = 100.0 * self.completed / self.total
            parts.append(f"{self.completed:,.0f}/{self.total:,.0f} ({pct:.1f}%)")
        else:
            parts.append(f"{self.completed:,.0f}")
        parts.append(_rate(rate) if rate else "?/s")
        parts.append(f"elapsed {human_time(elapsed)}")
        if self.total and not self.finished:
            left = (self.total - self.completed) / rate if rate else None
            parts.append(f"ETA {human_time(left)}")
        parts += [f"{k} {_fmt(v)}" for k, v in self.fields.items() if v is not None]
        return f"[{self.description}] " + " · ".join(parts)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


class Progress:
    """Tasks with a total and a count: a rich bar in a terminal, interval lines in a log.

    The subset of `rich.progress.Progress` the code uses: `start`, `stop`, `add_task`,
    `advance`, `update`, and use as a context manager. `update(task, **fields)` with keys other
    than advance/completed/total/description sets shown fields (`loss=0.42`).
    """

    def __init__(self, transient: bool = True, stream: TextIO | None = None,
                 log_interval: float | None = None, enabled: bool = True):
        self.stream = stream
        self.mode = mode(stream) if enabled else "off"
        self.interval = log_interval or interval()
        self.tasks: dict[int, _Task] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rich = None
        self._transient = transient
        self._rich_ids: dict[int, Any] = {}

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> Progress:
        if self.mode == "bar" and self._rich is None:
            self._rich = _rich_progress(self._transient, self.stream)
            self._rich.start()
        elif self.mode == "log" and self._thread is None:
            self._thread = threading.Thread(target=self._heartbeat, daemon=True,
                                            name="curate-progress")
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._rich is not None:
            self._rich.stop()
            self._rich = None
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._thread = None
            with self._lock:
                for t in self.tasks.values():
                    if not t.finished:
                        t.finished = True
                        self._emit(t)

    def __enter__(self) -> Progress:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- tasks -------------------------------------------------------------------------
    def add_task(self, description: str, total: float | None = None, completed: float = 0,
                 **fields: Any) -> int:
        self.start()
        with self._lock:
            tid = len(self.tasks)
            self.tasks[tid] = _Task(description, total, float(completed), dict(fields),
                                    base=float(completed))
            if self._rich is not None:
                self._rich_ids[tid] = self._rich.add_task(
                    description, total=total, completed=completed, fields=_fields(fields))
            elif self.mode == "log":
                self._emit(self.tasks[tid], started=True)
        return tid

    def advance(self, task: int, advance: float = 1) -> None:
        self.update(task, advance=advance)

    def update(self, task: int, *, advance: float | None = None, completed: float | None = None,
               total: float | None = None, description: str | None = None,
               **fields: Any) -> None:
        with self._lock:
            t = self.tasks[task]
            if completed is not None:
                t.completed = float(completed)
            if advance:
                t.completed += advance
            if total is not None:
                t.total = total
            if description is not None:
                t.description = description
            t.fields.update(fields)
            if t.total and t.completed >= t.total and self.mode == "log" and not t.finished:
                t.finished = True
                self._emit(t)
        if self._rich is not None:
            kw: dict[str, Any] = {"completed": t.completed, "fields": _fields(t.fields)}
            if total is not None:
                kw["total"] = total
            if description is not None:
                kw["description"] = description
            self._rich.update(self._rich_ids[task], **kw)

    # -- log mode ------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                for t in self.tasks.values():
                    if not t.finished:
                        self._emit(t)

    def _emit(self, t: _Task, started: bool = False) -> None:
        out = self.stream or sys.stderr
        text = f"[{t.description}] started" + (f": {t.total:,.0f} to do" if t.total else "") \
            if started else t.line()
        try:
            out.write(text + "\n")
            out.flush()
        except (OSError, ValueError):  # a closed stream must not kill the work
            pass


def _fields(fields: dict[str, Any]) -> str:
    return " · ".join(f"{k} {_fmt(v)}" for k, v in fields.items() if v is not None)


def _rich_progress(transient: bool, stream: TextIO | None):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(_rate(speed) if speed else "?/s", style="progress.data.speed")

    console = Console(file=stream, stderr=stream is None)
    # descriptions and fields carry names and server log lines: plain text, never markup
    return RichProgress(TextColumn("{task.description}", markup=False), BarColumn(),
                        MofNCompleteColumn(), RateColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn(), TextColumn("{task.fields[fields]}", markup=False),
                        transient=transient,
                        console=console)


def progress_bar(transient: bool = True, enabled: bool = True) -> Progress:
    """A `Progress` (bar in a terminal, interval lines in a log, nothing when disabled)."""
    return Progress(transient=transient, enabled=enabled)


def track(items: Iterable, description: str, total: int | None = None,
          enabled: bool = True) -> Iterator:
    """Iterate `items` with progress (total from len() when not given)."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with progress_bar(enabled=enabled) as bar:
        task = bar.add_task(description, total=total)
        for x in items:
            yield x
            bar.advance(task)


class Status:
    """A one-line status for a wait without a count (a server loading its model): a spinner
    in a terminal, a line at once and then one per interval in a log (`message · 1m20s`)."""

    def __init__(self, message: str, enabled: bool = True, stream: TextIO | None = None):
        self.message, self.stream = message, stream
        self.mode = mode(stream) if enabled else "off"
        self.start_t = time.monotonic()
        self._rich = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Status:
        if self.mode == "bar":
            from rich.console import Console
            from rich.text import Text

            self._rich = Console(file=self.stream, stderr=self.stream is None).status(
                Text(self.message))
            self._rich.start()
        elif self.mode == "log":
            self._write(self.message)
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
        return self

    def update(self, message: str) -> None:
        """Say what is happening now (the spinner's text, or the next interval's log line)."""
        self.message = message
        if self._rich is not None:
            from rich.text import Text

            self._rich.update(Text(message))

    def _beat(self) -> None:
        while not self._stop.wait(interval()):
            self._write(self.message)

    def _write(self, msg: str) -> None:
        out = self.stream or sys.stderr
        try:
            out.write(f"{msg} · {human_time(time.monotonic() - self.start_t)}\n")
            out.flush()
        except (OSError, ValueError):
            pass

    def __exit__(self, *exc) -> None:
        if self._rich is not None:
            self._rich.stop()
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            self._write(self.message)
