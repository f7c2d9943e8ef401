"""Periods and calendars: which local days a period covers, and the instants that bound it.

A period is a half-open range of *local* dates ``[start, end)`` in the tree's timezone; its bounds
in time are local midnights converted to aware datetimes, so a month that contains a DST change is
one hour longer or shorter, as it really is. Period names, as users type them:

    2026-10                    a month
    2026-Q3                    a calendar quarter
    2026-W43                   a week (ISO numbering; with another week start, the week that starts
                               on that weekday just before the ISO week's Monday)
    FY2026, FY2026-Q2          a fiscal year / fiscal quarter, named by the calendar year it ENDS in
    2026-10-01..2026-10-31     a custom range of days, both ends included
"""

from __future__ import annotations

import calendar as _calendar
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kpitree.errors import UsageError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Grain(enum.StrEnum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    FISCAL_QUARTER = "fiscal_quarter"
    FISCAL_YEAR = "fiscal_year"
    CUSTOM = "custom"


class Comparison(enum.StrEnum):
    PREVIOUS = "previous"  # the period just before
    YOY = "yoy"  # the same period a year earlier
    TARGET = "target"  # the node's target: no second period


@dataclass(frozen=True, order=True)
class Period:
    """Local dates ``[start, end)`` of one period; ``grain`` says how to step from it."""

    start: date
    end: date
    grain: Grain

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, _calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class Calendar:
    """A tree's calendar: its timezone, the first day of its weeks, the first month of its fiscal year."""

    timezone: ZoneInfo
    week_start: int = 0  # 0 = Monday (ISO weeks) ... 6 = Sunday
    fiscal_year_start_month: int = 1

    @classmethod
    def of(cls, timezone: str, week_start: str = "monday", fiscal_year_start_month: int = 1) -> Calendar:
        return cls(ZoneInfo(timezone), WEEKDAYS.index(week_start), fiscal_year_start_month)

    # -- periods around a day -------------------------------------------------------------------

    def period_containing(self, day: date, grain: Grain) -> Period:
        if grain is Grain.WEEK:
            start = day - timedelta(days=(day.weekday() - self.week_start) % 7)
            return Period(start, start + timedelta(days=7), grain)
        if grain is Grain.MONTH:
            start = day.replace(day=1)
            return Period(start, add_months(start, 1), grain)
        if grain is Grain.QUARTER:
            start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
            return Period(start, add_months(start, 3), grain)
        if grain in (Grain.FISCAL_QUARTER, Grain.FISCAL_YEAR):
            months_in = (day.month - self.fiscal_year_start_month) % 12
            year_start = add_months(day.replace(day=1), -months_in)
            if grain is Grain.FISCAL_YEAR:
                return Period(year_start, add_months(year_start, 12), grain)
            start = add_months(year_start, 3 * (months_in // 3))
            return Period(start, add_months(start, 3), grain)
        raise UsageError("a custom period is given by its dates, not found around a day")

    def period_at(self, instant: datetime, grain: Grain) -> Period:
        """The period holding ``instant`` (aware), judged by the local date in this calendar's timezone."""
        return self.period_containing(instant.astimezone(self.timezone).date(), grain)

    # -- stepping -------------------------------------------------------------------------------

    def shift(self, period: Period, steps: int) -> Period:
        """The period ``steps`` periods later (earlier when negative)."""
        if period.grain is Grain.WEEK:
            delta = timedelta(days=7 * steps)
            return Period(period.start + delta, period.end + delta, period.grain)
        if period.grain is Grain.CUSTOM:
            delta = timedelta(days=period.days * steps)
            return Period(period.start + delta, period.end + delta, period.grain)
        months = {Grain.MONTH: 1, Grain.QUARTER: 3, Grain.FISCAL_QUARTER: 3, Grain.FISCAL_YEAR: 12}[period.grain]
        start = add_months(period.start, months * steps)
        return Period(start, add_months(start, months), period.grain)

    def previous(self, period: Period) -> Period:
        return self.shift(period, -1)

    def same_period_last_year(self, period: Period) -> Period:
        if period.grain is Grain.WEEK:
            # The week with the same number a year earlier (week 53 maps to week 52).
            year, week, _ = self._iso_anchor(period).isocalendar()
            last_weeks = date(year - 1, 12, 28).isocalendar()[1]
            return self._week(year - 1, min(week, last_weeks))
        if period.grain is Grain.CUSTOM:
            return Period(
                add_months(period.start, -12), add_months(period.last_day, -12) + timedelta(days=1), period.grain
            )
        return self.shift(
            period, -{Grain.MONTH: 12, Grain.QUARTER: 4, Grain.FISCAL_QUARTER: 4, Grain.FISCAL_YEAR: 1}[period.grain]
        )

    def compare_period(self, period: Period, comparison: Comparison) -> Period | None:
        if comparison is Comparison.PREVIOUS:
            return self.previous(period)
        if comparison is Comparison.YOY:
            return self.same_period_last_year(period)
        return None

    # -- time -----------------------------------------------------------------------------------

    def bounds(self, period: Period) -> tuple[datetime, datetime]:
        """Aware datetimes of the local midnights that open and close the period."""
        return (
            datetime.combine(period.start, time(0), self.timezone),
            datetime.combine(period.end, time(0), self.timezone),
        )

    # -- names ----------------------------------------------------------------------------------

    def label(self, period: Period) -> str:
        if period.grain is Grain.WEEK:
            year, week, _ = self._iso_anchor(period).isocalendar()
            return f"{year}-W{week:02d}"
        if period.grain is Grain.MONTH:
            return f"{period.start:%Y-%m}"
        if period.grain is Grain.QUARTER:
            return f"{period.start.year}-Q{(period.start.month - 1) // 3 + 1}"
        if period.grain is Grain.FISCAL_YEAR:
            return f"FY{self._fiscal_year_name(period.start)}"
        if period.grain is Grain.FISCAL_QUARTER:
            year_start = self.period_containing(period.start, Grain.FISCAL_YEAR).start
            quarter = ((period.start.year - year_start.year) * 12 + period.start.month - year_start.month) // 3 + 1
            return f"FY{self._fiscal_year_name(period.start)}-Q{quarter}"
        return f"{period.start.isoformat()}..{period.last_day.isoformat()}"

    def parse(self, text: str) -> Period:
        """A period from its name (see the module docstring); UsageError with an example otherwise."""
        text = text.strip()
        for pattern, build in self._parsers():
            match = pattern.fullmatch(text)
            if match:
                try:
                    return build(match)
                except ValueError as exc:
                    raise UsageError(f"period {text!r} does not exist: {exc}", hint=_PERIOD_HINT) from None
        raise UsageError(f"cannot read period {text!r}", hint=_PERIOD_HINT)

    def _parsers(self) -> list[tuple[re.Pattern[str], Callable[[re.Match[str]], Period]]]:
        return [
            (
                re.compile(r"(\d{4})-(\d{2})"),
                lambda m: self.period_containing(date(int(m[1]), int(m[2]), 1), Grain.MONTH),
            ),
            (
                re.compile(r"(\d{4})-Q([1-4])"),
                lambda m: self.period_containing(date(int(m[1]), 3 * int(m[2]) - 2, 1), Grain.QUARTER),
            ),
            (re.compile(r"(\d{4})-W(\d{2})"), lambda m: self._week(int(m[1]), int(m[2]))),
            (re.compile(r"FY(\d{4})"), lambda m: self._fiscal_year(int(m[1]))),
            (
                re.compile(r"FY(\d{4})-Q([1-4])"),
                lambda m: self.shift(
                    Period(
                        self._fiscal_year(int(m[1])).start,
                        add_months(self._fiscal_year(int(m[1])).start, 3),
                        Grain.FISCAL_QUARTER,
                    ),
                    int(m[2]) - 1,
                ),
            ),
            (re.compile(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})"), self._custom),
        ]

    def _custom(self, match: re.Match[str]) -> Period:
        first, last = date.fromisoformat(match[1]), date.fromisoformat(match[2])
        if last < first:
            raise ValueError("the range ends before it starts")
        return Period(first, last + timedelta(days=1), Grain.CUSTOM)

    def _week(self, year: int, week: int) -> Period:
        monday = date.fromisocalendar(year, week, 1)
        start = monday - timedelta(days=(7 - self.week_start) % 7)
        return Period(start, start + timedelta(days=7), Grain.WEEK)

    def _iso_anchor(self, period: Period) -> date:
        # The Monday a week is numbered by: its start moved forward to the next Monday (or itself).
        return period.start + timedelta(days=(7 - self.week_start) % 7)

    def _fiscal_year_name(self, day: date) -> int:
        return self.period_containing(day, Grain.FISCAL_YEAR).last_day.year

    def _fiscal_year(self, name: int) -> Period:
        # FY<name> ends in calendar year <name>: its last month is the month before the start month.
        last_month = (self.fiscal_year_start_month - 2) % 12 + 1
        return self.period_containing(date(name, last_month, 1), Grain.FISCAL_YEAR)


_PERIOD_HINT = "write e.g. 2026-10, 2026-Q3, 2026-W43, FY2026, FY2026-Q2 or 2026-10-01..2026-10-31"
