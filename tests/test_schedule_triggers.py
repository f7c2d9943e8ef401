"""When schedules fire (crontab day numbers, DST changes) and which period each fire computes.

Fire times are pinned by hand, from the zone rules: 2026's changes are 29 March and 25 October in
Europe/Berlin, 8 March and 1 November in America/New_York."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from hypothesis import given, settings
from hypothesis import strategies as st

from kpitree.crontab import crontab_day_of_week, crontab_trigger
from kpitree.schedule.triggers import closed_period, fire_times, latest_fire
from kpitree.spec.models.tree import CalendarSpec, ScheduleSpec
from kpitree.tree import MetricTree, tree_calendar
from tests.alerting_world import alerting_tree

UTC = ZoneInfo("UTC")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fires(cron: str, zone: str, after: str, until: str) -> list[str]:
    trigger = crontab_trigger(cron, zone)
    local = ZoneInfo(zone)
    found = fire_times(
        trigger,
        datetime.fromisoformat(after).replace(tzinfo=local),
        datetime.fromisoformat(until).replace(tzinfo=local),
    )
    return [f"{fire.isoformat()} = {fire.astimezone(UTC):%H:%M}Z" for fire in found]


@pytest.mark.parametrize(
    ("zone", "cron", "after", "until", "expected"),
    [
        # Spring, Berlin: 02:30 does not exist on 29 March; it fires once, at 03:30 CEST.
        (
            "Europe/Berlin",
            "30 2 * * *",
            "2026-03-28T12:00",
            "2026-03-30T12:00",
            ["2026-03-29T03:30:00+02:00 = 01:30Z", "2026-03-30T02:30:00+02:00 = 00:30Z"],
        ),
        # Autumn, Berlin: 02:30 happens twice on 25 October; it fires at the first one only.
        (
            "Europe/Berlin",
            "30 2 * * *",
            "2026-10-24T12:00",
            "2026-10-26T12:00",
            ["2026-10-25T02:30:00+02:00 = 00:30Z", "2026-10-26T02:30:00+01:00 = 01:30Z"],
        ),
        # Spring, New York: 02:30 does not exist on 8 March.
        (
            "America/New_York",
            "30 2 * * *",
            "2026-03-07T12:00",
            "2026-03-09T12:00",
            ["2026-03-08T03:30:00-04:00 = 07:30Z", "2026-03-09T02:30:00-04:00 = 06:30Z"],
        ),
        # Autumn, New York: 01:30 happens twice on 1 November (02:30 happens once).
        (
            "America/New_York",
            "30 1 * * *",
            "2026-10-31T12:00",
            "2026-11-02T12:00",
            ["2026-11-01T01:30:00-04:00 = 05:30Z", "2026-11-02T01:30:00-05:00 = 06:30Z"],
        ),
        (
            "America/New_York",
            "30 2 * * *",
            "2026-10-31T12:00",
            "2026-11-02T12:00",
            ["2026-11-01T02:30:00-05:00 = 07:30Z", "2026-11-02T02:30:00-05:00 = 07:30Z"],
        ),
    ],
)
def test_a_daily_job_fires_once_on_both_dst_changes(
    zone: str, cron: str, after: str, until: str, expected: list[str]
) -> None:
    assert fires(cron, zone, after, until) == expected


def test_apscheduler_alone_fires_twice_on_the_autumn_change() -> None:
    # The reason for the guard: APScheduler 3.x's own trigger repeats the repeated hour.
    trigger = CronTrigger.from_crontab("30 2 * * *", timezone="Europe/Berlin")
    first = trigger.get_next_fire_time(None, utc("2026-10-24T12:00"))
    second = trigger.get_next_fire_time(first, first)
    assert (first.astimezone(UTC), second.astimezone(UTC)) == (utc("2026-10-25T00:30"), utc("2026-10-25T01:30"))


def test_apscheduler_alone_loses_a_day_after_the_spring_change() -> None:
    # And the reason to step in wall-clock time: its midnight job skips 31 March 2025 in Berlin.
    trigger = CronTrigger.from_crontab("0 0 * * *", timezone="Europe/Berlin")
    first = trigger.get_next_fire_time(None, utc("2025-03-29T12:00"))
    second = trigger.get_next_fire_time(first, first)
    assert (first.date(), second.date()) == (date(2025, 3, 30), date(2025, 4, 1))
    ours = fire_times(crontab_trigger("0 0 * * *", "Europe/Berlin"), first, second)
    assert [fire.date() for fire in ours] == [date(2025, 3, 31), date(2025, 4, 1)]


@pytest.mark.parametrize(
    ("field", "days"),
    [
        ("1", {"Monday"}),
        ("0", {"Sunday"}),
        ("7", {"Sunday"}),
        ("1-5", {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}),
        ("*/2", {"Sunday", "Tuesday", "Thursday", "Saturday"}),
        ("sat,0", {"Saturday", "Sunday"}),
        ("mon-wed", {"Monday", "Tuesday", "Wednesday"}),
    ],
)
def test_day_of_week_numbers_are_read_as_crontab_reads_them(field: str, days: set[str]) -> None:
    # APScheduler 3.x reads 0 as Monday; a crontab reads it as Sunday.
    found = fire_times(crontab_trigger(f"0 6 * * {field}", "UTC"), utc("2026-11-22T00:00"), utc("2026-11-29T00:00"))
    assert {fire.strftime("%A") for fire in found} == days


def test_a_bad_day_of_week_says_how_to_write_it() -> None:
    with pytest.raises(ValueError, match="0 and 7 are Sunday"):
        crontab_day_of_week("8")


def test_the_shipped_trees_fire_on_the_days_their_comments_say(seed_trees: dict[str, MetricTree]) -> None:
    from kpitree.schedule.triggers import tree_trigger

    activity = tree_trigger(seed_trees["activity_volume_per_contact"])
    engagement = tree_trigger(seed_trees["contact_engagement_score"])
    assert activity is not None
    assert engagement is not None
    month = (utc("2026-10-01T00:00"), utc("2026-11-01T12:00"))
    assert [f.isoformat() for f in fire_times(activity, *month)] == [
        "2026-10-01T07:00:00+01:00",
        "2026-11-01T07:00:00+00:00",
    ]
    assert [f.date().isoformat() for f in fire_times(engagement, *month)] == [
        "2026-10-05",
        "2026-10-12",
        "2026-10-19",
        "2026-10-26",
    ]


@pytest.fixture(scope="module")
def seed_trees() -> dict[str, MetricTree]:
    from kpitree.tree_files import load_tree_or_raise
    from tests.conftest import SEED_TREES

    return {tree.id: tree for tree in (load_tree_or_raise(path) for path in SEED_TREES)}


ZONES = ["Europe/Berlin", "America/New_York", "Europe/London", "Australia/Sydney", "UTC"]


@settings(max_examples=40, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45]),
    start=st.dates(date(2025, 1, 1), date(2027, 12, 1)),
)
def test_a_daily_cron_fires_exactly_once_on_every_local_day(zone: str, hour: int, minute: int, start: date) -> None:
    local = ZoneInfo(zone)
    after = datetime.combine(start, datetime.min.time(), local) - timedelta(microseconds=1)
    until = datetime.combine(start + timedelta(days=400), datetime.min.time(), local) - timedelta(microseconds=1)
    found = fire_times(crontab_trigger(f"{minute} {hour} * * *", zone), after, until)
    days = [fire.astimezone(local).date() for fire in found]
    assert days == [start + timedelta(days=n) for n in range(400)]
    assert all(a < b for a, b in itertools.pairwise(found))


def test_latest_fire_is_the_fire_being_executed() -> None:
    trigger = crontab_trigger("0 7 1 * *", "Europe/London")
    assert latest_fire(trigger, utc("2026-11-01T07:00:05")) == utc("2026-11-01T07:00")
    assert latest_fire(trigger, utc("2026-11-20T00:00")) == utc("2026-11-01T07:00")  # a month back, still found


def tree_with(grain: str, zone: str = "Europe/London", week_start: str = "monday", fiscal_start: int = 1) -> MetricTree:
    return replace(
        alerting_tree(),
        grain=grain,
        timezone=zone,
        calendar=CalendarSpec(week_start=week_start, fiscal_year_start_month=fiscal_start),
        schedule=ScheduleSpec(cron="0 6 * * 1"),
    )


@pytest.mark.parametrize(
    ("tree", "fire", "label"),
    [
        # A Monday fire computes the ISO week that ended at midnight; 2026 has a week 53.
        (tree_with("week"), "2026-12-28T06:00", "2026-W52"),
        (tree_with("week"), "2027-01-04T06:00", "2026-W53"),
        (tree_with("week"), "2026-01-05T06:00", "2026-W01"),
        # Month ends in the tree's zone: 00:30 on 1 April in Berlin is still 31 March in UTC.
        (tree_with("month", "Europe/Berlin"), "2026-03-31T22:30", "2026-03"),
        (tree_with("month", "Europe/Berlin"), "2026-03-31T21:30", "2026-02"),
        (tree_with("month"), "2026-03-01T07:00", "2026-02"),
        (tree_with("quarter"), "2026-10-01T07:00", "2026-Q3"),
        (tree_with("quarter"), "2027-01-01T07:00", "2026-Q4"),
        # A fiscal year starting in April is named by the year it ends in.
        (tree_with("fiscal_year", fiscal_start=4), "2026-04-01T07:00", "FY2026"),
        (tree_with("fiscal_quarter", fiscal_start=4), "2026-07-01T07:00", "FY2027-Q1"),
        (tree_with("fiscal_quarter", fiscal_start=4), "2026-04-01T07:00", "FY2026-Q4"),
    ],
)
def test_a_fire_computes_the_last_closed_period(tree: MetricTree, fire: str, label: str) -> None:
    assert tree_calendar(tree).label(closed_period(tree, utc(fire))) == label
