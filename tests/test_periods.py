"""Periods: names, stepping, comparisons and DST-correct bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpitree.errors import UsageError
from kpitree.periods import WEEKDAYS, Calendar, Comparison, Grain, Period

LONDON = Calendar.of("Europe/London")


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-10", date(2026, 10, 1), date(2026, 11, 1)),
        ("2026-12", date(2026, 12, 1), date(2027, 1, 1)),
        ("2026-Q3", date(2026, 7, 1), date(2026, 10, 1)),
        ("2026-W43", date(2026, 10, 19), date(2026, 10, 26)),
        ("2026-W53", date(2026, 12, 28), date(2027, 1, 4)),
        ("FY2026", date(2026, 1, 1), date(2027, 1, 1)),
        ("2026-10-01..2026-10-31", date(2026, 10, 1), date(2026, 11, 1)),
        ("2026-10-05..2026-10-05", date(2026, 10, 5), date(2026, 10, 6)),
    ],
)
def test_parse_names(text: str, start: date, end: date) -> None:
    period = LONDON.parse(text)
    assert (period.start, period.end) == (start, end)
    assert LONDON.label(period) == text


def test_fiscal_years_are_named_by_the_year_they_end_in() -> None:
    april = Calendar.of("Europe/London", fiscal_year_start_month=4)
    fy = april.parse("FY2027")
    assert (fy.start, fy.end) == (date(2026, 4, 1), date(2027, 4, 1))
    q2 = april.parse("FY2027-Q2")
    assert (q2.start, q2.end) == (date(2026, 7, 1), date(2026, 10, 1))
    assert april.label(april.period_containing(date(2027, 2, 14), Grain.FISCAL_QUARTER)) == "FY2027-Q4"


def test_weeks_can_start_on_sunday() -> None:
    us = Calendar.of("America/New_York", week_start="sunday")
    week = us.period_containing(date(2026, 10, 21), Grain.WEEK)  # a Wednesday
    assert (week.start, week.end) == (date(2026, 10, 18), date(2026, 10, 25))
    assert us.label(week) == "2026-W43"
    assert us.parse("2026-W43") == week


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-13", "does not exist"),
        ("2026-W54", "does not exist"),
        ("October", "cannot read"),
        ("2026-10-31..2026-10-01", "ends before it starts"),
    ],
)
def test_bad_names_are_user_errors_with_an_example(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        LONDON.parse(text)
    assert caught.value.hint is not None
    assert "2026-W43" in caught.value.hint


def test_month_bounds_across_the_autumn_dst_change() -> None:
    start, end = LONDON.bounds(LONDON.parse("2026-10"))
    assert start.astimezone(UTC) == datetime(2026, 9, 30, 23, 0, tzinfo=UTC)  # BST midnight
    assert end.astimezone(UTC) == datetime(2026, 11, 1, 0, 0, tzinfo=UTC)  # GMT midnight
    assert end - start == timedelta(days=31)  # wall-clock difference of aware datetimes in one zone
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=31, hours=1)


def test_week_bounds_across_the_spring_dst_change_in_new_york() -> None:
    ny = Calendar.of("America/New_York")
    start, end = ny.bounds(ny.period_containing(date(2026, 3, 8), Grain.WEEK))
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(days=7) - timedelta(hours=1)


def test_period_at_an_instant_uses_local_date() -> None:
    # 23:30 UTC on 31 October is 23:30 GMT: still October in London, already November in Tokyo.
    instant = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    assert LONDON.label(LONDON.period_at(instant, Grain.MONTH)) == "2026-10"
    tokyo = Calendar.of("Asia/Tokyo")
    assert tokyo.label(tokyo.period_at(instant, Grain.MONTH)) == "2026-11"


@pytest.mark.parametrize(
    ("text", "previous", "last_year"),
    [
        ("2026-03", "2026-02", "2025-03"),
        ("2026-01", "2025-12", "2025-01"),
        ("2026-Q1", "2025-Q4", "2025-Q1"),
        ("2026-W01", "2025-W52", "2025-W01"),
        ("2026-W53", "2026-W52", "2025-W52"),
        ("FY2026", "FY2025", "FY2025"),
        ("2024-02-29..2024-03-06", "2024-02-22..2024-02-28", "2023-02-28..2023-03-06"),
    ],
)
def test_comparisons(text: str, previous: str, last_year: str) -> None:
    period = LONDON.parse(text)
    assert LONDON.label(LONDON.compare_period(period, Comparison.PREVIOUS) or period) == previous
    assert LONDON.label(LONDON.compare_period(period, Comparison.YOY) or period) == last_year
    assert LONDON.compare_period(period, Comparison.TARGET) is None


days = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 12, 31))
grains = st.sampled_from([Grain.WEEK, Grain.MONTH, Grain.QUARTER, Grain.FISCAL_QUARTER, Grain.FISCAL_YEAR])
calendars = st.builds(
    Calendar.of,
    st.sampled_from(["Europe/London", "America/New_York", "Australia/Sydney", "UTC", "Asia/Kolkata"]),
    st.sampled_from(WEEKDAYS),
    st.integers(1, 12),
)


@given(calendars, days, grains)
def test_a_period_holds_its_day_and_periods_tile_time(cal: Calendar, day: date, grain: Grain) -> None:
    period = cal.period_containing(day, grain)
    assert period.start <= day < period.end
    following = cal.shift(period, 1)
    assert following.start == period.end
    assert cal.previous(following) == period
    assert cal.period_containing(period.last_day, grain) == period


@given(calendars, days, grains)
def test_labels_parse_back(cal: Calendar, day: date, grain: Grain) -> None:
    period = cal.period_containing(day, grain)
    assert cal.parse(cal.label(period)) == period


@given(calendars, days, grains)
def test_bounds_are_local_midnights(cal: Calendar, day: date, grain: Grain) -> None:
    start, end = cal.bounds(cal.period_containing(day, grain))
    for instant in (start, end):
        local = instant.astimezone(cal.timezone)
        assert (local.hour, local.minute) == (0, 0)


@given(days, st.integers(1, 60))
def test_custom_ranges_step_by_their_length(first: date, length: int) -> None:
    period = Period(first, first + timedelta(days=length), Grain.CUSTOM)
    assert LONDON.previous(period).end == period.start
    assert LONDON.previous(period).days == length
    assert LONDON.parse(LONDON.label(period)) == period
