"""Evaluating a registered intervention on the warehouse: the numbers behind its verdict.

For the node it targets, per period of its window and of the equally long pre-period:

- **before/after** in the treated segment: the change of the mean level. Descriptive only: it
  moves with everything else that moved in those weeks;
- **difference-in-differences** against the control segment, with its bootstrap interval and the
  pre-period placebo (:mod:`kpitree.impact.estimate`), which gives the verdict;
- **the tree path**: the node's ancestors up to the KPI over the whole pre-period and window, in
  the treated segment: did the parent and the root move, and how much of the root's movement the
  attribution gives this branch (:func:`kpitree.analysis.attribution.attribute_tree` on the two spans).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from statistics import fmean
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from kpitree.alert.queue import NewMessage
from kpitree.analysis.attribution import attribute_tree
from kpitree.compute.batch import SegmentFilter
from kpitree.compute.engine import PeriodValues, compute_periods
from kpitree.delivery.outbox import enqueue
from kpitree.errors import InternalError, UsageError
from kpitree.impact.estimate import Judgement, Segments, Verdict, judge
from kpitree.impact.registry import RegisteredIntervention
from kpitree.periods import Grain, Period
from kpitree.state.models import InterventionEvaluation
from kpitree.tree import MetricTree, tree_calendar
from kpitree.warehouse import Warehouse


@dataclass(frozen=True)
class PathStep:
    """One node on the way from the intervention's node up to the KPI, over the two spans."""

    node_id: str
    title: str
    before: float | None
    after: float | None

    @property
    def change(self) -> float | None:
        if self.before is None or self.after is None or self.before == 0:
            return None
        return self.after / self.before - 1


@dataclass(frozen=True)
class ImpactEvaluation:
    intervention: RegisteredIntervention
    evaluated_on: date
    span_before: Period  # the pre-period, whole
    span_after: Period  # the window, whole
    treated_before: float | None  # mean per period: the descriptive before/after
    treated_after: float | None
    periods_dropped: tuple[str, ...]  # periods without a value on either side, left out
    judgement: Judgement
    path: tuple[PathStep, ...]  # the node first, the KPI last
    attributed_to_root: float | None  # the node's part of the KPI's movement, in the KPI's units
    root_movement: float | None

    @property
    def verdict(self) -> Verdict:
        return self.judgement.verdict

    @property
    def descriptive_change(self) -> float | None:
        if self.treated_before is None or self.treated_after is None or self.treated_before == 0:
            return None
        return self.treated_after / self.treated_before - 1

    @property
    def share_of_root(self) -> float | None:
        if self.attributed_to_root is None or not self.root_movement:
            return None
        return self.attributed_to_root / self.root_movement

    def details(self) -> dict[str, Any]:
        """Every number of the evaluation, for the state database and the report (JSON-safe)."""
        estimate = self.judgement.estimate
        placebo = self.judgement.placebo
        return {
            "node": self.intervention.node_id,
            "span_before": [self.span_before.start.isoformat(), self.span_before.end.isoformat()],
            "span_after": [self.span_after.start.isoformat(), self.span_after.end.isoformat()],
            "treated_before": self.treated_before,
            "treated_after": self.treated_after,
            "descriptive_change": self.descriptive_change,
            "periods_dropped": list(self.periods_dropped),
            "estimate": asdict(estimate) if estimate else None,
            "placebo": asdict(placebo) if placebo else None,
            "path": [
                {"node": s.node_id, "title": s.title, "before": s.before, "after": s.after, "change": s.change}
                for s in self.path
            ],
            "attributed_to_root": self.attributed_to_root,
            "root_movement": self.root_movement,
            "share_of_root": self.share_of_root,
            "edits": list(self.intervention.edits_after_registration),
        }


def is_due(intervention: RegisteredIntervention, tree: MetricTree, today: date) -> bool:
    return today >= intervention.window_end(tree)


def evaluate_intervention(
    tree: MetricTree, intervention: RegisteredIntervention, warehouse: Warehouse, today: date
) -> ImpactEvaluation:
    """Compute the treated and control segments over the pre-period and the window, and judge."""
    if not is_due(intervention, tree, today):
        raise UsageError(
            f"intervention {intervention.id}'s window ends on {intervention.window_end(tree)}: "
            "judging it earlier would answer a different question than the one registered",
            hint="wait for the window to pass, or record a shorter window with 'kpitree impact edit' (it is logged)",
        )
    before_periods, after_periods = intervention.periods(tree)
    periods = [*before_periods, *after_periods]
    treated_segment = SegmentFilter.from_key(intervention.segment, tree)
    treated = compute_periods(tree, periods, warehouse, treated_segment).periods
    node = intervention.node_id
    labels = [tree_calendar(tree).label(p) for p in periods]
    n_before = len(before_periods)
    sides = [treated]
    if intervention.control:
        sides.append(
            compute_periods(tree, periods, warehouse, SegmentFilter.from_key(intervention.control, tree)).periods
        )
    # A period is used only where every side has a value: the gaps must pair up.
    keep = [i for i in range(len(periods)) if all(side[i].value(node) is not None for side in sides)]
    dropped = tuple(labels[i] for i in range(len(periods)) if i not in keep)
    before_after = [
        ([_value(side[i], node) for i in keep if i < n_before], [_value(side[i], node) for i in keep if i >= n_before])
        for side in sides
    ]
    before_values, after_values = before_after[0]
    if intervention.control:
        (control_before, control_after) = before_after[1]
        segments = Segments(before_values, after_values, control_before, control_after)
        judgement = judge(segments, intervention.expect, intervention.expected_size)
    else:
        judgement = Judgement(
            Verdict.INCONCLUSIVE,
            "no control segment: a before/after comparison cannot tell the change from everything else "
            "that moved in those weeks (register one with --control)",
            None,
            None,
        )
    span_before = Period(before_periods[0].start, before_periods[-1].end, Grain.CUSTOM)
    span_after = Period(after_periods[0].start, after_periods[-1].end, Grain.CUSTOM)
    spans = compute_periods(tree, [span_before, span_after], warehouse, treated_segment).periods
    path, to_root, root_movement = _tree_path(tree, node, spans[0], spans[1])
    return ImpactEvaluation(
        intervention=intervention,
        evaluated_on=today,
        span_before=span_before,
        span_after=span_after,
        treated_before=fmean(before_values) if before_values else None,
        treated_after=fmean(after_values) if after_values else None,
        periods_dropped=dropped,
        judgement=judgement,
        path=path,
        attributed_to_root=to_root,
        root_movement=root_movement,
    )


def _value(values: PeriodValues, node: str) -> float:
    value = values.value(node)
    if value is None:
        raise InternalError("value is missing")
    return value


def _tree_path(
    tree: MetricTree, node_id: str, before: PeriodValues, after: PeriodValues
) -> tuple[tuple[PathStep, ...], float | None, float | None]:
    before_map = {n: v.value for n, v in before.values.items()}
    after_map = {n: v.value for n, v in after.values.items()}
    attribution = attribute_tree(tree, before_map, after_map)
    steps = []
    current: str | None = node_id
    while current is not None:
        node = tree.node(current)
        steps.append(PathStep(current, node.title, before_map.get(current), after_map.get(current)))
        current = node.parent
    root = attribution.root
    movement = root.delta
    return tuple(steps), attribution.nodes[node_id].to_root, movement


def record_evaluation(
    engine: Engine,
    evaluation: ImpactEvaluation,
    now: datetime,
    messages: Callable[[int], Sequence[NewMessage]] | None = None,
) -> tuple[int, int]:
    """Store the evaluation and, when its verdict differs from the last one stored (or is the
    first), queue ``messages(evaluation id)`` to the owner in the same transaction: a crash cannot
    record a verdict and forget to tell it, nor tell one twice. (The id, messages queued.)"""
    estimate = evaluation.judgement.estimate
    with Session(engine) as session:
        previous = session.exec(
            select(InterventionEvaluation)
            .where(col(InterventionEvaluation.intervention_id) == evaluation.intervention.id)
            .order_by(col(InterventionEvaluation.id).desc())
        ).first()
        row = InterventionEvaluation(
            intervention_id=evaluation.intervention.id,
            evaluated_at=now,
            verdict=evaluation.verdict.value,
            reason=evaluation.judgement.reason,
            effect=estimate.effect if estimate else None,
            low=estimate.low if estimate else None,
            high=estimate.high if estimate else None,
            relative=estimate.relative if estimate else None,
            details=json.dumps(evaluation.details()),
        )
        session.add(row)
        session.flush()
        if row.id is None:
            raise InternalError("row.id is missing")
        queued = 0
        changed = previous is None or previous.verdict != row.verdict
        if messages is not None and changed:
            queued = enqueue(session.connection(), messages(row.id), now)
            row.notified = True
            session.add(row)
        session.commit()
        return row.id, queued
