"""Numbers for people, the same in every output (terminal, Markdown, HTML, messages).

A node may ask for ``display: percent`` (its fraction shown x100 with ``%``, its changes in
percentage points) and a fixed number of ``decimals``. Otherwise the precision follows the value:
thousands are separated, values under 1 keep three significant digits (a ratio of 0.0734 is not
0.07), and a pair shown side by side (before and after) gets the precision at which the two differ,
so a moving ratio never reads ``0.07 -> 0.07``. Nothing reads ``-0.00``.

Only presentation: the numbers kpitree stores and prints as JSON are the fractions themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Protocol

MAX_DIGITS: Final = 6  # significant digits a pair may grow to before it is shown as equal


@dataclass(frozen=True)
class Display:
    percent: bool = False
    decimals: int | None = None


PLAIN: Final = Display()


class HasDisplay(Protocol):
    @property
    def display(self) -> str: ...

    @property
    def decimals(self) -> int | None: ...


def display_of(node: HasDisplay | None) -> Display:
    if node is None:
        return PLAIN
    return Display(node.display == "percent", node.decimals)


def number(value: float | None, display: Display = PLAIN) -> str:
    """One value."""
    if value is None:
        return "-"
    shown = value * 100 if display.percent else value
    return _trimmed(_text(shown, _decimals(shown, display)), shown, display) + ("%" if display.percent else "")


def pair(before: float | None, after: float | None, display: Display = PLAIN) -> tuple[str, str]:
    """Two values at one precision, the first at which they read differently (if they differ)."""
    if before is None or after is None or display.decimals is not None:
        return number(before, display), number(after, display)
    scale = 100 if display.percent else 1
    a, b = before * scale, after * scale
    decimals = max(_decimals(a, display), _decimals(b, display))
    while a != b and _text(a, decimals) == _text(b, decimals) and decimals < _limit(a, b):
        decimals += 1
    suffix = "%" if display.percent else ""
    return _text(a, decimals) + suffix, _text(b, decimals) + suffix


def change(delta: float | None, display: Display = PLAIN) -> str:
    """A signed change: ``+12``, ``-0.00431``, or for a percent ``+1.2 pp`` (percentage points)."""
    if delta is None:
        return "-"
    shown = delta * 100 if display.percent else delta
    text = _trimmed(_text(shown, _decimals(shown, display)), shown, display)
    sign = "+" if shown > 0 and not text.startswith("-") else ""
    return sign + text + (" pp" if display.percent else "")


def _decimals(value: float, display: Display) -> int:
    if display.decimals is not None:
        return display.decimals
    magnitude = abs(value)
    if magnitude == 0 or _whole(value):
        return 0
    if magnitude >= 1000:
        return 1
    if magnitude >= 1:
        return 1 if display.percent else 2
    # under 1: three significant digits, e.g. 0.0734 and 0.000512
    return min(-math.floor(math.log10(magnitude)) + 2, 12)


def _trimmed(text: str, value: float, display: Display) -> str:
    """Without the trailing zeros that three significant digits leave under 1 (0.0700 is 0.07)."""
    if display.decimals is not None or abs(value) >= 1 or "." not in text:
        return text
    return text.rstrip("0").rstrip(".")


def _limit(a: float, b: float) -> int:
    largest = max(abs(a), abs(b), 1e-12)
    return max(0, MAX_DIGITS - 1 - math.floor(math.log10(largest)))


def _whole(value: float) -> bool:
    return abs(value - round(value)) <= 1e-9 * max(abs(value), 1.0)


def _text(value: float, decimals: int) -> str:
    if _whole(value) and decimals == 0:
        value = float(round(value))  # 3665.9999999 from a product of rounded factors is 3,666
    text = f"{value:,.{decimals}f}"
    if text.lstrip("-").strip("0,.") == "":  # -0.00 is 0
        return f"{0:.{decimals}f}"
    return text
