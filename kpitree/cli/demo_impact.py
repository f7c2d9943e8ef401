"""The demo's review-and-learn steps: the sample's two interventions, registered and judged, and the
engagement score back-tested against the sample's outcomes.

They are registered as their team would have: a week before the start (so the window was fixed
before any data came in), once per demo state database. They are evaluated as of the day after
the sample's last month, and their verdicts go to the owners through the outbox like any alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from kpitree.calibrate.backtest import CalibrationRequest, calibrate
from kpitree.calibrate.outcomes import read_outcomes
from kpitree.calibrate.render import calibration_html, calibration_lines, calibration_markdown
from kpitree.compute.batch import SegmentFilter
from kpitree.impact.describe import evaluation_lines, registration_line, summaries, summary_lines
from kpitree.impact.loop import evaluate_due
from kpitree.impact.registry import Window, list_interventions, register
from kpitree.periods import add_months
from kpitree.sample import SampleSpec
from kpitree.sample.generate import play_start
from kpitree.sample.interventions import SAMPLE_INTERVENTIONS
from kpitree.state.store import StateStore
from kpitree.tree import MetricTree, NodeKind
from kpitree.warehouse import Warehouse


def demo_interventions(
    trees: Sequence[MetricTree], spec: SampleSpec, warehouse: Warehouse, store: StateStore
) -> list[str]:
    """Register (once) and evaluate the sample's interventions; lines saying what was found."""
    by_id = {tree.id: tree for tree in trees}
    start = play_start(spec)
    registered_at = datetime.combine(start - timedelta(days=7), time(9), tzinfo=UTC)
    known = {(i.tree_id, i.node_id, i.segment, i.start) for i in list_interventions(store.engine)}
    lines = ["Verified impact: the sample's interventions"]
    for planted in SAMPLE_INTERVENTIONS:
        tree = by_id[planted.tree]
        segment = SegmentFilter.parse([planted.segment], tree)
        if (tree.id, planted.node, segment.key(), start) in known:
            continue
        added = register(
            store.engine,
            tree,
            node_id=planted.node,
            start=start,
            expect=planted.expect,
            window=Window.parse(planted.window),
            owner=planted.owner,
            note=planted.note,
            size=planted.size,
            segment=segment,
            control=SegmentFilter.parse([planted.control], tree),
            now=registered_at,
        )
        lines.append("  registered " + registration_line(added, tree))
    today = spec.months()[1].end
    evaluated = 0
    for tree in trees:
        for done in evaluate_due(store.engine, tree, warehouse, today, datetime.now(UTC)):
            evaluated += 1
            lines.append("  " + registration_line(done.evaluation.intervention, tree))
            lines += ["      " + line for line in evaluation_lines(done.evaluation)]
    if not evaluated:  # a second demo in the same directory: the verdicts stand, and were told
        lines += ["  " + line for tree in trees for line in summary_lines(summaries(store.engine, tree))]
    return lines


def demo_calibration(trees: Sequence[MetricTree], spec: SampleSpec, warehouse: Warehouse, folder: Path) -> list[str]:
    """Back-test the engagement score on the sample's outcomes; the report's lines and files.

    As of six months before the sample's end, outcomes decided in the 90 days after; validated on
    the next 90 days: the sample's outcomes span its last six months."""
    lines: list[str] = []
    for tree in trees:
        for node in tree.nodes.values():
            if node.kind is not NodeKind.SCORE or node.score is None:
                continue
            as_of_day = add_months(spec.months()[1].end, -6)
            as_of = datetime.combine(as_of_day, time(), tzinfo=ZoneInfo(tree.timezone))
            outcomes = read_outcomes("outcomes", warehouse, tree.timezone)
            result = calibrate(tree, node, outcomes, CalibrationRequest(as_of, timedelta(days=90)), warehouse)
            folder.mkdir(parents=True, exist_ok=True)
            for suffix, render in (("html", calibration_html), ("md", calibration_markdown)):
                (folder / f"calibration_{node.id}.{suffix}").write_text(render(result), encoding="utf-8")
            lines += ["Calibration: " + calibration_lines(result)[0]]
            lines += ["  " + line for line in calibration_lines(result)[1:]]
            lines.append(f"  report: {folder / f'calibration_{node.id}.html'}")
    return lines
