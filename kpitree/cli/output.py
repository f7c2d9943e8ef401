"""Terminal output shared by the commands.

What the terminal shows comes partly from tree files and the warehouse (titles, segment values,
entity ids, addresses). A control character in them (ESC starts a terminal escape sequence that can
clear the screen, retitle the window or forge a hyperlink) is removed from every segment of text
before rich styles it, so only kpitree's own styling reaches the terminal; and rich's markup is
off, so a value such as ``[link=...]`` is printed as written.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment

from kpitree.cli.plain import has_control, strip_control

PIPE_WIDTH = 140  # rich assumes 80 columns when output is piped: too narrow for a tree table


class SafeConsole(Console):
    """A rich console that never writes a control character it did not make itself."""

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control is None and has_control(segment.text):
                yield Segment(strip_control(segment.text), segment.style)
            else:
                yield segment


def console() -> Console:
    return SafeConsole(soft_wrap=False, markup=False, emoji=False, width=None if sys.stdout.isatty() else PIPE_WIDTH)
