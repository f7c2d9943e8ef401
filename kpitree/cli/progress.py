"""How a command shows the progress of its stages (:mod:`kpitree.progress`), on standard error
so that standard output stays the command's result.

- on a terminal: rich's progress bar, one task per stage, with its elapsed time;
- otherwise (a pipe, a log file, CI): one line per stage, ``kpitree: <stage> (<seconds> s)``,
  written when the stage ends, so a log says where the time went;
- with ``--format json``: nothing.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from kpitree.progress import SILENT
from kpitree.progress import Progress as ProgressReport

if TYPE_CHECKING:  # rich is imported on a terminal only: 75 ms a piped or scheduled command need not pay
    from rich.progress import TaskID


class LogLines:
    """A line per stage when it ends: its name and how long it took."""

    def __init__(self, stream: TextIO, command: str) -> None:
        self.stream = stream
        self.command = command
        self.current: tuple[str, float, int | None] | None = None
        self.done = 0

    def stage(self, name: str, total: int | None = None) -> None:
        self._end()
        self.current = (name, time.monotonic(), total)
        self.done = 0

    def advance(self, steps: int = 1) -> None:
        self.done += steps

    def finish(self) -> None:
        self._end()

    def _end(self) -> None:
        if self.current is None:
            return
        name, started, total = self.current
        steps = f", {self.done}/{total}" if total else ""
        print(f"{self.command}: {name} ({time.monotonic() - started:.1f} s{steps})", file=self.stream, flush=True)
        self.current = None


class Bar:
    """rich's live progress on the terminal: the running stage's bar, the finished ones above it."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(file=stream),
            transient=False,
        )
        self.task: TaskID | None = None
        self.total: int | None = None
        self.progress.start()

    def stage(self, name: str, total: int | None = None) -> None:
        self._complete()
        self.task, self.total = self.progress.add_task(name, total=total), total

    def advance(self, steps: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, steps)

    def finish(self) -> None:
        self._complete()
        self.progress.stop()

    def _complete(self) -> None:
        if self.task is not None:
            self.progress.update(self.task, total=self.total or 1, completed=self.total or 1)
            self.task = None


class Shown:
    """``with Shown('kpitree run', json=False) as progress:``, the progress report for a command."""

    def __init__(self, command: str, *, json: bool = False, stream: TextIO | None = None) -> None:
        self.command = command
        self.json = json
        self.stream = stream
        self.report: ProgressReport = SILENT

    def __enter__(self) -> ProgressReport:
        stream = self.stream or sys.stderr
        if self.json:
            self.report = SILENT
        elif stream.isatty():
            self.report = Bar(stream)
        else:
            self.report = LogLines(stream, self.command)
        return self.report

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.report.finish()
