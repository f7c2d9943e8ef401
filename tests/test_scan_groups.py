"""A batch's scans: every period in exactly one, none overlapping another in its scan, at most the
dialect's periods_per_scan each (the bound that keeps a cold twelve-month trend's peak memory down
on one machine)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kpitree.compute.batch import windows
from kpitree.compute.engine import scan_groups
from kpitree.dialects.base import SqlDialect
from kpitree.dialects.spark import SparkSql
from kpitree.tree import tree_calendar
from kpitree.tree_files import load_tree_or_raise
from tests.conftest import TREES

TREE = load_tree_or_raise(TREES / "activity_volume_per_contact.yaml")
CALENDAR = tree_calendar(TREE)
LABELS = [f"2026-{m:02d}" for m in range(1, 13)] + [f"2026-W{w:02d}" for w in range(1, 53)] + ["2026-Q1", "2026-Q3"]


@settings(max_examples=200)
@given(st.lists(st.sampled_from(LABELS), min_size=1, max_size=30), st.integers(min_value=1, max_value=13))
def test_every_period_is_in_one_scan_of_disjoint_periods(labels: list[str], per_scan: int) -> None:
    batch = windows(CALENDAR, [CALENDAR.parse(label) for label in labels])
    groups = scan_groups(batch, per_scan)
    assert sorted(w.index for g in groups for w in g) == list(range(len(batch)))
    for group in groups:
        assert 1 <= len(group) <= per_scan
        for a in group:
            for b in group:
                if a is not b:
                    assert a.period.end <= b.period.start or b.period.end <= a.period.start


def test_a_twelve_month_trend_is_four_scans_on_one_machine_and_one_on_spark() -> None:
    months = windows(CALENDAR, [CALENDAR.parse(f"2026-{m:02d}") for m in range(12, 0, -1)])
    on_one_machine = scan_groups(months, SqlDialect.periods_per_scan)
    assert [len(g) for g in on_one_machine] == [3, 3, 3, 3]
    assert [w.index for g in on_one_machine for w in g] == list(range(12))  # in the batch's order
    (on_spark,) = scan_groups(months, SparkSql.periods_per_scan)
    assert [w.index for w in on_spark] == list(range(12))
