"""Interventions and their verdicts in words: for the terminal, the variance report and the docs.

:class:`InterventionSummary` is what a report needs of one intervention, read back from the state
database (registration, edits and latest evaluation), so a report never re-runs an evaluation.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.engine import Engine

from kpitree.display import number
from kpitree.impact.evaluate import ImpactEvaluation
from kpitree.impact.registry import RegisteredIntervention, latest_evaluations, list_interventions
from kpitree.tree import MetricTree


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def registration_line(i: RegisteredIntervention, tree: MetricTree | None = None) -> str:
    node = tree.node(i.node_id).title if tree and i.node_id in tree.nodes else i.node_id
    size = f" by {i.expected_size:.0%}" if i.expected_size else ""
    where = f" in {i.segment_label}" if i.segment else ""
    control = f", control {i.control_label}" if i.control else ", no control"
    return (
        f"#{i.id} {i.tree_id} / {node}{where}: expect {i.expect}{size}, from {i.start} for {i.window}"
        f"{control}, owner {i.owner}" + (f" - {i.note}" if i.note else "")
    )


def evaluation_lines(evaluation: ImpactEvaluation) -> list[str]:
    """The evaluation, a line per finding; the verdict first."""
    i = evaluation.intervention
    judgement = evaluation.judgement
    lines = [f"verdict: {judgement.verdict.value.upper()} - {judgement.reason}"]
    lines.append(
        f"before/after in {i.segment_label or 'the whole population'} (descriptive): "
        f"{number(evaluation.treated_before)} -> {number(evaluation.treated_after)} per period "
        f"({pct(evaluation.descriptive_change)})"
    )
    if judgement.estimate:
        e = judgement.estimate
        lines.append(
            f"difference-in-differences vs {i.control_label}: {e.effect:+.4g} ({pct(e.relative)} of the counterfactual "
            f"{number(e.counterfactual)}), {e.level:.0%} interval [{e.low:+.4g}, {e.high:+.4g}] "
            f"over {e.periods_before}+{e.periods_after} periods"
        )
    if judgement.placebo:
        p = judgement.placebo
        lines.append(
            f"placebo (fake start halfway through the pre-period): {p.effect:+.4g} [{p.low:+.4g}, {p.high:+.4g}]"
        )
    if evaluation.periods_dropped:
        lines.append(f"left out (no value on a side): {', '.join(evaluation.periods_dropped)}")
    for step in evaluation.path:
        lines.append(f"  path: {step.title}: {number(step.before)} -> {number(step.after)} ({pct(step.change)})")
    if evaluation.share_of_root is not None:
        lines.append(
            f"the attribution gives this branch {evaluation.attributed_to_root:+.4g} of the KPI's "
            f"{evaluation.root_movement:+.4g} movement ({evaluation.share_of_root:.0%})"
        )
    for edit in i.edits_after_registration:
        lines.append(f"edited after registration: {edit}")
    return lines


@dataclass(frozen=True)
class InterventionSummary:
    id: int
    node_id: str
    title: str  # e.g. 'Meeting touches in segment=Mid-market'
    start: date
    last_day: date  # the window's last day
    note: str
    owner: str
    verdict: str | None  # None until evaluated
    finding: str  # the reason, or when it becomes due
    share: str  # of the KPI's movement, '' when unknown
    edited: bool


def summaries(engine: Engine, tree: MetricTree) -> list[InterventionSummary]:
    """The tree's interventions with their latest verdicts, for the variance report."""
    registered = list_interventions(engine, tree.id)
    latest = latest_evaluations(engine, [i.id for i in registered])
    found = []
    for i in registered:
        if i.node_id not in tree.nodes:
            continue  # the node was removed from the tree since
        evaluation = latest.get(i.id)
        details = json.loads(evaluation.details) if evaluation else {}
        share = details.get("share_of_root")
        title = tree.node(i.node_id).title + (f" in {i.segment_label}" if i.segment else "")
        found.append(
            InterventionSummary(
                id=i.id,
                node_id=i.node_id,
                title=title,
                start=i.start,
                last_day=i.window_end(tree) - timedelta(days=1),
                note=i.note,
                owner=i.owner,
                verdict=evaluation.verdict if evaluation else None,
                finding=evaluation.reason if evaluation else f"due on {i.window_end(tree)}",
                share=f"{share:.0%}" if isinstance(share, float) else "",
                edited=bool(i.edits),
            )
        )
    return found


def summary_lines(items: Sequence[InterventionSummary]) -> list[str]:
    return [
        f"#{s.id} {s.title} ({s.start} to {s.last_day}): {(s.verdict or 'not evaluated yet').upper()} - {s.finding}"
        + (f"; share of the KPI's movement {s.share}" if s.share else "")
        + (" [edited after registration]" if s.edited else "")
        for s in items
    ]
