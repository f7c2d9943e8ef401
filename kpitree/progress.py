"""Progress of long work, reported by the stage doing it and shown by the command that asked.

A stage calls ``stage(name, total)`` when it starts and ``advance()`` as it goes; the command
decides how that looks (:mod:`kpitree.cli.progress`: rich's bar on a terminal, a log line per stage
otherwise, nothing at all beside ``--format json``). The work never prints itself.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def stage(self, name: str, total: int | None = None) -> None:
        """A stage begins; ``total`` steps when it knows how many."""

    def advance(self, steps: int = 1) -> None:
        """``steps`` more of the current stage are done."""

    def finish(self) -> None:
        """The work is over (the last stage ended)."""


class Silent:
    """Progress nobody is shown: the default for a caller that did not ask."""

    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


SILENT: Progress = Silent()
