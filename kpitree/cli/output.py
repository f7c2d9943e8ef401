"""Terminal output shared by the commands."""

from __future__ import annotations

import sys

from rich.console import Console

PIPE_WIDTH = 140  # rich assumes 80 columns when output is piped: too narrow for a tree table


def console() -> Console:
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else PIPE_WIDTH)
