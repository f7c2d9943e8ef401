"""Crontab expressions as people write them, for APScheduler 3.x.

Two differences from APScheduler 3.x's own ``CronTrigger.from_crontab`` matter to anyone who has
written a crontab:

- **Day-of-week numbers.** In a crontab 0 (and 7) is Sunday and 1 is Monday; APScheduler 3.x reads
  0 as Monday, so ``0 6 * * 1`` would fire on Tuesdays (its issue #286, fixed only in 4.x). Numbers
  are translated to day names here, which both read alike; ``*/2`` keeps the crontab meaning
  (Sunday, Tuesday, Thursday, Saturday).
- **Daylight saving.** A wall-clock time that occurs twice (02:30 on the autumn change in
  Europe/Berlin) fires at its first occurrence only, as in cron; APScheduler 3.x fires at both.
  A time the spring change skips fires once, an hour later on the wall clock (02:30 fires at
  03:30 CEST). APScheduler 3.x also *loses* a day after the spring change for some crons (a
  midnight job in Berlin goes from 30 March 2025 to 1 April); stepping in wall-clock time does not.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

ONE_MICROSECOND = timedelta(microseconds=1)
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMERIC_ITEM = re.compile(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?")


def crontab_day_of_week(field: str) -> str:
    """A crontab day-of-week field in APScheduler's terms (names, so numbering cannot differ)."""
    items = []
    for item in field.lower().split(","):
        match = _NUMERIC_ITEM.fullmatch(item)
        if match is None:
            items.append(item)  # names ('mon-fri') mean the same to both; anything else fails below
            continue
        first, last, step = match.groups()
        if first == "*" and step is None:
            return "*"
        start, end = (0, 6) if first == "*" else (int(first), int(last) if last is not None else int(first))
        if first != "*" and last is None and step is not None:
            end = 6  # '1/2': from Monday to the week's end, every other day
        if not (0 <= start <= 7 and 0 <= end <= 7) or start > end:
            raise ValueError(f"day of week {item!r}: use 0-7 (0 and 7 are Sunday) or names like mon-fri")
        days = range(start, end + 1, int(step or 1))
        items.extend(DAY_NAMES[day % 7] for day in days)
    return ",".join(dict.fromkeys(items))


class CrontabTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler ships no type hints
    """A crontab line in a timezone, stepped in wall-clock time (see the module doc).

    APScheduler's CronTrigger does the field arithmetic, but in UTC, on local wall-clock times:
    UTC has no DST, so it never loses or repeats a day. Each wall-clock fire is then placed in the
    zone at its first occurrence (``fold=0``), which is how cron treats repeated and skipped times.
    It is pickled into the job store with its job, so this module path must stay importable.
    """

    def __init__(self, expression: str, zone: ZoneInfo) -> None:
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(f"wrong number of fields: got {len(fields)}, expected 5")
        minute, hour, day, month, day_of_week = fields
        self.expression = expression
        self.timezone = zone
        self._wall = CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=crontab_day_of_week(day_of_week), timezone=UTC
        )

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """The first fire at or after ``now``, or right after ``previous_fire_time`` when given."""
        # After a previous fire, the next one even if it is already past (APScheduler counts the
        # missed ones that way), and never the previous fire itself.
        start = now if previous_fire_time is None else previous_fire_time + ONE_MICROSECOND
        cursor = start.astimezone(self.timezone).replace(tzinfo=UTC)  # the wall clock, read as UTC
        while True:
            wall: datetime | None = self._wall.get_next_fire_time(None, cursor)
            if wall is None:
                return None
            fire = wall.replace(tzinfo=self.timezone, fold=0).astimezone(UTC)
            if fire >= start:
                return fire.astimezone(self.timezone)
            # The second pass through a repeated hour: this wall time already fired in the first.
            cursor = wall + ONE_MICROSECOND

    def __str__(self) -> str:
        return f"crontab[{self.expression} in {self.timezone}]"


def crontab_trigger(expression: str, zone: tzinfo | str) -> CrontabTrigger:
    """The trigger of a five-field crontab line in ``zone``; ValueError says what is wrong."""
    return CrontabTrigger(expression, zone if isinstance(zone, ZoneInfo) else ZoneInfo(str(zone)))
