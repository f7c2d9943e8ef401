"""One duration syntax: ``m`` is minutes and ``mo`` months everywhere, each use takes only the units
that make sense for it, and a unit it does not take is refused with the units it does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from freezegun import freeze_time
from hypothesis import given
from hypothesis import strategies as st

from kpitree.cli.main import cli
from kpitree.durations import EVERY_UNIT, FIXED_UNITS, Duration, DurationError, Unit, parse_duration
from kpitree.impact.registry import Window
from kpitree.periods import Grain
from kpitree.spec.models.base import parse_duration as spec_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30min", Duration(30, Unit.MINUTE)),
        ("30m", Duration(30, Unit.MINUTE)),
        (" 24h ", Duration(24, Unit.HOUR)),
        ("7D", Duration(7, Unit.DAY)),
        ("8w", Duration(8, Unit.WEEK)),
        ("3mo", Duration(3, Unit.MONTH)),
    ],
)
def test_every_unit_is_read_the_same_way_everywhere(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@given(count=st.integers(1, 999_999), unit=st.sampled_from(sorted(EVERY_UNIT, key=lambda u: u.symbol)))
def test_a_duration_reads_back_as_written(count: int, unit: Unit) -> None:
    duration = Duration(count, unit)
    assert parse_duration(str(duration)) == duration


@pytest.mark.parametrize("text", ["", "3", "m", "3 months", "-3d", "3.5d", "1y", "1234567d"])
def test_anything_else_is_refused_with_the_units(text: str) -> None:
    with pytest.raises(DurationError) as raised:
        parse_duration(text)
    assert raised.value.hint is not None
    assert "days (d)" in raised.value.hint


def test_months_are_calendar_months_from_the_day_they_start() -> None:
    start = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
    assert Duration(1, Unit.MONTH).after(start) == datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
    assert Duration(3, Unit.MONTH).after(start) == datetime(2026, 4, 30, 9, 30, tzinfo=UTC)
    assert Duration(90, Unit.MINUTE).after(start) == start + timedelta(minutes=90)


def test_a_window_takes_weeks_or_months_and_3m_is_not_three_months() -> None:
    assert Window.parse("3mo") == Window(Grain.MONTH, 3)
    assert str(Window(Grain.MONTH, 3)) == "3mo"
    assert Window.parse(str(Window(Grain.WEEK, 8))) == Window(Grain.WEEK, 8)
    with pytest.raises(DurationError) as raised:
        Window.parse("3m")
    assert raised.value.hint is not None
    assert "3mo" in raised.value.hint


def test_tree_files_take_fixed_lengths_only() -> None:
    assert spec_duration("30m") == timedelta(minutes=30)
    assert spec_duration("30min") == timedelta(minutes=30)
    with pytest.raises(ValueError, match="1 month"):
        spec_duration("1mo")
    assert all(u.seconds is not None for u in FIXED_UNITS)


def test_the_cli_refuses_3m_for_a_horizon_and_suggests_months(runner: CliRunner) -> None:
    result = runner.invoke(
        cli,
        ["calibrate", "contact_engagement_score", "--outcomes", "o.csv", "--as-of", "2026-05-01", "--horizon", "3m"],
    )
    assert result.exit_code == 2
    assert "'3m' is 3 minute(s)" in result.output
    assert "write 3mo for months" in result.output


def test_the_cli_refuses_days_for_an_impact_window(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        cli,
        [
            "impact",
            "add",
            "activity_volume_per_contact",
            "call_touches",
            "--start",
            "2026-09-01",
            "--expect",
            "up",
            "--owner",
            "x",
            "--window",
            "60d",
            "--state-db",
            f"sqlite:///{tmp_path / 's.db'}",
        ],
    )
    assert result.exit_code == 2
    assert "weeks (w), months (mo)" in result.output


@freeze_time("2026-12-01T09:00:00+00:00")
def test_a_silence_for_3m_lasts_three_minutes(runner: CliRunner, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    added = runner.invoke(
        cli, ["silence", "add", "--node", "n", "--until", "3m", "--reason", "deploy", "--state-db", state]
    )
    assert added.exit_code == 0, added.output
    assert "until 2026-12-01 09:03" in added.output
