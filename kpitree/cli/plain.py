"""Plain terminal output: ``echo`` without control characters (see :mod:`kpitree.cli.output`).

Apart from :mod:`kpitree.cli.output` so that commands printing plain text do not import rich.
"""

from __future__ import annotations

import re
from typing import Final

import click

_CONTROL: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def strip_control(text: str) -> str:
    """``text`` without control characters (tab and newline kept)."""
    return _CONTROL.sub("", text)


def echo(message: object = "", *, err: bool = False, nl: bool = True) -> None:
    """``click.echo`` without control characters: plain output passes the same filter as rich's."""
    click.echo(strip_control(str(message)), err=err, nl=nl)
