"""One duration syntax for tree files and every command: a whole number and a unit.

=========  ==========  ============================================
unit       written     example
=========  ==========  ============================================
minutes    ``min``     ``30min`` (``30m`` is accepted: minutes, as in Alertmanager)
hours      ``h``       ``24h``
days       ``d``       ``7d``
weeks      ``w``       ``8w``
months     ``mo``      ``3mo``: calendar months, from the day it starts
=========  ==========  ============================================

``m`` is minutes everywhere (it was months for ``--window`` and 30 days for ``--horizon``: three
readings of one string). Each use says which units it takes (a silence any; an intervention's
window whole weeks or months; a back-test's horizon days to months); a unit it does not take is
refused with the units it does, so ``--window 3m`` is an error that suggests ``3mo``, never three
minutes of data.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from kpitree.errors import UsageError
from kpitree.periods import add_months


class Unit(enum.Enum):
    MINUTE = ("min", 60)
    HOUR = ("h", 3600)
    DAY = ("d", 86400)
    WEEK = ("w", 604800)
    MONTH = ("mo", None)  # calendar months have no fixed length

    @property
    def symbol(self) -> str:
        symbol: str = self.value[0]
        return symbol

    @property
    def seconds(self) -> int | None:
        seconds: int | None = self.value[1]
        return seconds


EVERY_UNIT = frozenset(Unit)
FIXED_UNITS = frozenset(u for u in Unit if u.seconds is not None)
WEEKS_OR_MONTHS = frozenset({Unit.WEEK, Unit.MONTH})  # an intervention's window: whole periods
DAYS_TO_MONTHS = frozenset({Unit.DAY, Unit.WEEK, Unit.MONTH})  # a back-test's horizon
_SYMBOLS = {"min": Unit.MINUTE, "m": Unit.MINUTE, "h": Unit.HOUR, "d": Unit.DAY, "w": Unit.WEEK, "mo": Unit.MONTH}
_PATTERN = re.compile(r"^\s*(\d{1,6})\s*(min|mo|m|h|d|w)\s*$", re.IGNORECASE)


class DurationError(UsageError, ValueError):
    """Text that is not a duration in the units asked for (a ValueError too, for pydantic)."""


@dataclass(frozen=True)
class Duration:
    count: int
    unit: Unit

    def __str__(self) -> str:
        return f"{self.count}{self.unit.symbol}"

    @property
    def fixed(self) -> timedelta:
        """As a timedelta; only for units of a fixed length (parse with ``FIXED_UNITS``)."""
        if self.unit.seconds is None:
            raise DurationError(f"{self} has no fixed length", hint="give it in days or weeks")
        return timedelta(seconds=self.count * self.unit.seconds)

    def after(self, instant: datetime) -> datetime:
        """``instant`` plus this duration; months are calendar months (31 Jan + 1mo = 28 or 29 Feb)."""
        if self.unit is Unit.MONTH:
            moved: date = add_months(instant.date(), self.count)
            return instant.replace(year=moved.year, month=moved.month, day=moved.day)
        return instant + self.fixed


def units_text(units: Collection[Unit]) -> str:
    return ", ".join(f"{u.name.lower()}s ({u.symbol})" for u in Unit if u in units)


def _example(units: Collection[Unit]) -> str:
    examples = {Unit.MINUTE: "30min", Unit.HOUR: "24h", Unit.DAY: "7d", Unit.WEEK: "8w", Unit.MONTH: "3mo"}
    return ", ".join(examples[u] for u in Unit if u in units)


def parse_duration(text: str, units: Collection[Unit] = EVERY_UNIT, *, minimum: int = 1) -> Duration:
    """``"30min"``, ``"24h"``, ``"7d"``, ``"8w"``, ``"3mo"`` -> Duration, in one of ``units``."""
    match = _PATTERN.match(text)
    if not match:
        raise DurationError(
            f"{text!r} is not a duration: write a whole number and a unit",
            hint=f"units: {units_text(units)}; e.g. {_example(units)}",
        )
    count, unit = int(match.group(1)), _SYMBOLS[match.group(2).lower()]
    if unit not in units:
        hint = f"this takes {units_text(units)}; e.g. {_example(units)}"
        if unit is Unit.MINUTE and Unit.MONTH in units:
            hint = f"m is minutes; write {count}mo for months ({hint})"
        raise DurationError(f"{text!r} is {count} {unit.name.lower()}(s), which this does not take", hint=hint)
    if count < minimum:
        raise DurationError(f"{text!r}: the number must be at least {minimum}", hint=f"e.g. {_example(units)}")
    return Duration(count, unit)
