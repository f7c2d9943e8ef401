"""The demo's verified-impact step: the sample's two interventions, registered and judged.

They are registered as their team would have: a week before the start (so the window was fixed
before any data came in), once per demo state database. They are evaluated as of the day after
the sample's last month, and their verdicts go to the owners through the outbox like any alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

from kpitree.compute.batch import SegmentFilter
from kpitree.impact.describe import evaluation_lines, registration_line, summaries, summary_lines
from kpitree.impact.loop import evaluate_due
from kpitree.impact.registry import Window, list_interventions, register
from kpitree.sample import SampleSpec
from kpitree.sample.generate import play_start
from kpitree.sample.interventions import SAMPLE_INTERVENTIONS
from kpitree.state.store import StateStore
from kpitree.tree import MetricTree
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
