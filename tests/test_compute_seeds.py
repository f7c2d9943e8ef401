"""The seeds' worked examples, computed in SQL on every engine.

Activity volume per contact: 600 activities over 150 contacts = 4 (September), and 2,400 over 480
= 5, split 3 emails + 1 call + 1 meeting per contact (October), with internal notes, system events
and duplicate syncs present and excluded, and contacts touched only outside the period, or only by
an excluded row, left out of the denominator. Contact engagement score: 31, and 36 with the
meeting a week ago instead of two.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from kpitree.compute import compute_periods
from kpitree.compute.batch import SegmentFilter, windows
from kpitree.compute.contact_scores import score_points
from kpitree.compute.scores import score_rows
from kpitree.compute.snapshot import take_snapshot
from kpitree.periods import Comparison
from kpitree.tree import MetricTree, tree_calendar
from kpitree.tree_files import load_tree_or_raise
from tests.conftest import TREES
from tests.engines import WITH_SPARK, warehouse_with
from tests.staging import staging

ACTIVITY_TREE = TREES / "activity_volume_per_contact.yaml"
SCORE_TREE = TREES / "contact_engagement_score.yaml"


def activity_tree() -> MetricTree:
    return load_tree_or_raise(ACTIVITY_TREE)


def seed_activity_data() -> duckdb.DuckDBPyConnection:
    db = staging("accounts", "activities", "rep_capacity")
    db.execute("INSERT INTO accounts VALUES ('a1', 'Acme', 'SMB', 'outbound', 'csm@example.com')")
    # September: 150 contacts x 4 touches = 600. Times in London summer time (UTC+1).
    db.execute(
        """INSERT INTO activities SELECT 'sep-' || i, 'c' || (i % 150), 'a1', 'r1',
               CASE WHEN i % 2 = 0 THEN 'email' ELSE 'call' END, 'touch', false, 'crm', 'sep-' || i,
               TIMESTAMPTZ '2026-09-01 00:30:00+01' + to_minutes(i * 60) FROM range(600) t(i)"""
    )
    # October: 480 contacts x (3 emails, 1 call, 1 meeting) = 2,400; every other email automated.
    db.execute(
        """INSERT INTO activities SELECT 'oct-' || i, 'c' || (i % 480), 'a1', 'r1',
               CASE WHEN i < 1440 THEN 'email' WHEN i < 1920 THEN 'call' ELSE 'meeting' END, 'touch',
               i < 1440 AND i % 2 = 0, 'crm', 'oct-' || i,
               TIMESTAMPTZ '2026-10-01 00:30:00+01' + to_minutes(i * 15) FROM range(2400) t(i)"""
    )
    # Excluded in October: duplicate syncs of 40 real touches, 50 internal notes, 30 system events,
    # and a contact (c9999) reached only by an internal note.
    db.execute(
        """INSERT INTO activities SELECT 'dup-' || i, 'c' || (i % 480), 'a1', 'r1', 'email', 'touch', i % 2 = 0, 'crm',
               'oct-' || i, TIMESTAMPTZ '2026-10-01 00:30:00+01' + to_minutes(i * 15) FROM range(40) t(i)"""
    )
    db.execute(
        """INSERT INTO activities SELECT 'note-' || i, CASE WHEN i = 0 THEN 'c9999' ELSE 'c1' END, 'a1', 'r1', 'task',
               'internal_note', false, 'crm', 'note-' || i, TIMESTAMPTZ '2026-10-10 12:00:00+01' FROM range(50) t(i)"""
    )
    db.execute(
        """INSERT INTO activities SELECT 'sys-' || i, 'c2', 'a1', 'r1', 'email', 'system_event', true, 'crm',
               'sys-' || i, TIMESTAMPTZ '2026-10-11 12:00:00+01' FROM range(30) t(i)"""
    )
    # Capacity: 2 reps, 240 selling hours in October; 1 rep, 120 hours in September.
    db.execute(
        """INSERT INTO rep_capacity VALUES ('r1', '2026-09-15', 120, 10), ('r1', '2026-10-15', 100, 10),
               ('r2', '2026-10-16', 140, 5), ('r3', '2026-10-16', 0, 8)"""
    )
    return db


@pytest.mark.parametrize("engine", WITH_SPARK)
def test_activity_volume_reproduces_both_worked_examples(engine: str, tmp_path: Path) -> None:
    tree = activity_tree()
    period = tree_calendar(tree).parse("2026-10")
    with warehouse_with(engine, tmp_path, seed_activity_data(), "accounts", "activities", "rep_capacity") as wh:
        snapshot = take_snapshot(tree, period, wh, Comparison.PREVIOUS)

    def value(node: str) -> float | None:
        return snapshot.result(node).current.value

    assert value("activity_volume_per_contact") == pytest.approx(5.0)
    assert snapshot.result("activity_volume_per_contact").compare.value == pytest.approx(4.0)  # type: ignore[union-attr]
    assert value("logged_touches") == 2400  # duplicates, notes and system events excluded
    assert value("active_contacts") == 480  # c9999 (internal note only) is not an active contact
    assert snapshot.result("active_contacts").compare.value == 150  # type: ignore[union-attr]
    per_contact = {n: snapshot.result(n).per.value for n in ("email_touches", "call_touches", "meeting_touches")}  # type: ignore[union-attr]
    assert per_contact == {
        "email_touches": pytest.approx(3.0),
        "call_touches": pytest.approx(1.0),
        "meeting_touches": pytest.approx(1.0),
    }
    assert value("manual_email_touches") == 720
    assert value("automated_email_touches") == 720
    assert value("other_touches") == 0
    # The capacity identity: reps active x selling hours per rep x touches per selling hour.
    assert value("reps_active") == 2  # r3 had no selling hours
    assert value("selling_hours_per_rep") == pytest.approx(120.0)
    assert value("touches_per_selling_hour") == pytest.approx(10.0)
    assert value("qualifying_activities") == pytest.approx(2400.0)


@pytest.mark.parametrize("engine", WITH_SPARK)
def test_a_period_without_data_gives_reasons_not_errors(engine: str, tmp_path: Path) -> None:
    tree = activity_tree()
    period = tree_calendar(tree).parse("2026-08")
    with warehouse_with(engine, tmp_path, seed_activity_data(), "accounts", "activities", "rep_capacity") as wh:
        snapshot = take_snapshot(tree, period, wh)
    root = snapshot.result("activity_volume_per_contact").current
    assert root.value is None
    assert root.reason == "qualifying_activities has no value"
    assert snapshot.result("touches_per_selling_hour").current.reason == "division by zero: selling_hours is 0"
    assert snapshot.result("logged_touches").current.value == 0


def seed_signal_data(meeting_days_ago: int) -> duckdb.DuckDBPyConnection:
    """The seed's contact: 4 recent logins, 6 recent opens, one meeting ``meeting_days_ago`` days
    before the end of week 2026-W43 (Monday 26 October 00:00 London time)."""
    db = staging("accounts", "signals")
    db.execute("INSERT INTO accounts VALUES ('a1', 'Acme', 'SMB', 'outbound', 'csm@example.com')")
    as_of = "TIMESTAMPTZ '2026-10-26 00:00:00+00'"  # GMT again after 25 October
    db.execute(
        f"INSERT INTO signals SELECT 'l' || i, 'c1', 'a1', 'login', {as_of} - INTERVAL 2 DAY, NULL FROM range(4) t(i)"
    )
    db.execute(
        f"INSERT INTO signals SELECT 'o' || i, 'c1', 'a1', 'email_open', {as_of} - INTERVAL 3 DAY, NULL "
        "FROM range(6) t(i)"
    )
    meeting_at = f"{as_of} - INTERVAL {meeting_days_ago} DAY"
    db.execute(f"INSERT INTO signals VALUES ('m', 'c1', 'a1', 'meeting_attended', {meeting_at}, NULL)")
    return db


@pytest.mark.parametrize("engine", WITH_SPARK)
@pytest.mark.parametrize(("meeting_days_ago", "expected"), [(14, 31.0), (7, 36.0)])
def test_engagement_score_reproduces_the_seed_example(
    engine: str, tmp_path: Path, meeting_days_ago: int, expected: float
) -> None:
    tree = load_tree_or_raise(SCORE_TREE)
    period = tree_calendar(tree).parse("2026-W43")
    with warehouse_with(engine, tmp_path, seed_signal_data(meeting_days_ago), "accounts", "signals") as wh:
        snapshot = take_snapshot(tree, period, wh)
        statement = score_rows(
            tree, tree.nodes[tree.root], score_points(windows(tree_calendar(tree), [period])), SegmentFilter(), wh
        )
        with wh.connect() as connection:
            rows = connection.execute(statement).mappings().all()
    assert snapshot.result(tree.root).current.value == pytest.approx(expected)
    assert snapshot.result("product_usage").current.value == pytest.approx(20.0)
    assert snapshot.result("email_and_content").current.value == pytest.approx(6.0)
    assert snapshot.result("human_interactions").current.value == pytest.approx(expected - 26.0)
    assert snapshot.result(tree.root).score_band == "At risk"
    assert snapshot.scores[tree.root].band_shares["At risk"] == pytest.approx(1.0)
    assert [(row["entity"], pytest.approx(row["score"]), row["band"]) for row in rows] == [
        ("c1", pytest.approx(expected), "At risk")
    ]


def test_one_statement_per_source(tmp_path: Path) -> None:
    tree = activity_tree()
    calendar = tree_calendar(tree)
    with warehouse_with("duckdb", tmp_path, seed_activity_data(), "accounts", "activities", "rep_capacity") as wh:
        computation = compute_periods(tree, [calendar.parse("2026-10"), calendar.parse("2026-09")], wh)
    # activities (every channel branch and the distinct contacts) and rep_capacity: two scans in all.
    assert len(computation.statements) == 2
    assert sum(s.count("FROM activities") for s in computation.statements) == 1
