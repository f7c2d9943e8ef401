"""Mix and rate per segment on a ratio whose numerator and denominator are cut into the same
segments: computed from a warehouse, attributed and reported."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from kpitree.alert.routing import largest_gap_branch
from kpitree.analysis.segments import segment_pairs
from kpitree.analysis.variance import build_report
from kpitree.periods import Comparison
from kpitree.report.render import report_html, report_markdown
from kpitree.report.report_json import report_json
from kpitree.report.story import explain
from kpitree.tree import tree_calendar
from kpitree.tree_files import load_tree_or_raise
from tests.conftest import FIXTURES, TREES
from tests.engines import warehouse_with
from tests.staging import staging

TREE = FIXTURES / "trees" / "touches_by_segment.yaml"


def touches(db: duckdb.DuckDBPyConnection, month: str, prefix: str, account: str, count: int, contacts: int) -> None:
    db.execute(
        f"""INSERT INTO activities SELECT '{month}{prefix}' || i, '{prefix}' || (i % {contacts}), '{account}', 'r1',
               'call', 'touch', false, 'crm', '{month}{prefix}' || i,
               TIMESTAMPTZ '{month}-02 12:00:00+00' + to_minutes(i) FROM range({count}) t(i)"""
    )


def segment_data() -> duckdb.DuckDBPyConnection:
    """SMB: 100 touches over 100 contacts, then 150 over 100 (its rate 1 -> 1.5). Mid-market: 400
    over 100, then 700 over 200 (its rate 4 -> 3.5, but twice the contacts)."""
    db = staging("accounts", "activities")
    db.execute("INSERT INTO accounts VALUES ('a1', 'Small', 'SMB', 'inbound', NULL)")
    db.execute("INSERT INTO accounts VALUES ('a2', 'Mid', 'Mid-market', 'outbound', NULL)")
    touches(db, "2026-09", "s", "a1", 100, 100)
    touches(db, "2026-09", "m", "a2", 400, 100)
    touches(db, "2026-10", "s", "a1", 150, 100)
    touches(db, "2026-10", "m", "a2", 700, 200)
    return db


def test_mix_and_rate_per_segment(tmp_path: Path) -> None:
    tree = load_tree_or_raise(TREE)
    period = tree_calendar(tree).parse("2026-10")
    with warehouse_with("duckdb", tmp_path, segment_data(), "accounts", "activities") as wh:
        report = build_report(tree, period, wh, Comparison.PREVIOUS, trend_periods=0)
    root = report.attribution.root
    assert (root.before, root.after) == pytest.approx((2.5, 850 / 300))
    view = root.segments
    assert view is not None
    effects = {s.pair.label: s.effect for s in view.segments}
    # By hand: v(none) = 500/200 = 2.5, v(SMB) = 550/200 = 2.75, v(MM) = 800/300, v(both) = 850/300.
    # Shapley: SMB = ((2.75 - 2.5) + (850/300 - 800/300)) / 2; MM = ((800/300 - 2.5) + (850/300 - 2.75)) / 2.
    assert effects["SMB"].total == pytest.approx(((2.75 - 2.5) + (850 / 300 - 800 / 300)) / 2)
    assert effects["Mid-market"].total == pytest.approx(((800 / 300 - 2.5) + (850 / 300 - 2.75)) / 2)
    # Rate: the mean of the two periods' shares of contacts times the segment's own rate change.
    assert effects["SMB"].rate == pytest.approx((100 / 200 + 100 / 300) / 2 * (1.5 - 1.0))
    assert effects["Mid-market"].rate == pytest.approx((100 / 200 + 200 / 300) / 2 * (3.5 - 4.0))
    # Mid-market's own rate fell, and its growing share of the contacts more than made up for it.
    assert effects["Mid-market"].rate < 0 < effects["Mid-market"].mix
    assert view.residual == pytest.approx(0.0, abs=1e-12)

    data = report_json(report)
    segments = next(n for n in data["nodes"] if n["id"] == "touches_per_contact")["segments"]
    assert segments["split_by"] == "segment"
    assert {s["segment"] for s in segments["segments"]} == {"SMB", "Mid-market"}
    json.dumps(data)  # the JSON form serialises
    markdown = report_markdown(report)
    assert "## Touches per contact: mix and rate by segment" in markdown
    assert "| Mid-market |" in markdown
    assert "Mid-market: rate -0.292, mix +0.417" in explain(report, "touches_per_contact")
    assert "Touches per contact: mix and rate by segment</h2>" in report_html(report)


def test_only_ratios_of_matching_segments_get_the_view() -> None:
    segmented = load_tree_or_raise(TREE)
    found = segment_pairs(segmented, segmented.node("touches_per_contact"))
    assert found is not None
    assert found[0] == "segment"
    assert {(p.numerator, p.denominator) for p in found[1]} == {
        ("smb_touches", "smb_contacts"),
        ("mm_touches", "mm_contacts"),
    }
    activity = load_tree_or_raise(TREES / "activity_volume_per_contact.yaml")
    # qualifying_activities / active_contacts: neither side is cut into segments.
    assert segment_pairs(activity, activity.node("activity_volume_per_contact")) is None
    assert segment_pairs(activity, activity.node("touches_per_selling_hour")) is None


def test_the_gap_path_and_routing_end_at_the_segment_whose_own_rate_fell(tmp_path: Path) -> None:
    """Mid-market's own rate falls from 4 to 3 while its contacts double; SMB holds at 1, and touches
    per contact fall from 2.5 to 2.33. The numerator (touches) rises, so a path over the two terms
    would name the denominator (contacts): the segments say Mid-market, and its owner hears of it."""
    db = staging("accounts", "activities")
    db.execute("INSERT INTO accounts VALUES ('a1', 'Small', 'SMB', 'inbound', NULL)")
    db.execute("INSERT INTO accounts VALUES ('a2', 'Mid', 'Mid-market', 'outbound', NULL)")
    touches(db, "2026-09", "s", "a1", 100, 100)
    touches(db, "2026-09", "m", "a2", 400, 100)
    touches(db, "2026-10", "s", "a1", 100, 100)
    touches(db, "2026-10", "m", "a2", 600, 200)
    tree = load_tree_or_raise(TREE)
    period = tree_calendar(tree).parse("2026-10")
    with warehouse_with("duckdb", tmp_path, db, "accounts", "activities") as wh:
        report = build_report(tree, period, wh, Comparison.PREVIOUS, trend_periods=0)
    attribution = report.attribution
    assert attribution.root.delta == pytest.approx(700 / 300 - 2.5)
    assert attribution.nodes["touches"].delta == 200  # the numerator rose
    assert attribution.largest_gap_path == ("touches_per_contact", "mm_touches")
    step = attribution.gap_segment
    assert step is not None
    assert step.segment.pair.label == "Mid-market"
    # All of the fall is Mid-market's: SMB did not move, so its part is exactly 0.
    assert step.to_root == pytest.approx(attribution.root.delta, abs=1e-12)
    assert step.segment.effect.rate == pytest.approx((100 / 200 + 200 / 300) / 2 * (3.0 - 4.0))
    assert attribution.gap_owners.responsible == ("mo",)
    assert largest_gap_branch(tree, attribution, "touches_per_contact") == "mm_touches"
    assert "The largest gap is segment Mid-market" in report_markdown(report)
    assert report_json(report)["largest_gap_segment"]["branch"] == "mm_touches"
