"""Evaluate every alert rule of a tree on one attributed period.

The input is the variance report the run already built (the period against the previous one, its
attribution, and the trend that slide and anomaly rules read), so evaluating rules computes
nothing again; only per-entity band crossings query the warehouse, for the entities' scores.

Each rule gives a :class:`Finding` whether or not it holds: an alert that stops holding is
resolved by the lifecycle, which needs to see it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from kpitree.alert import rules
from kpitree.alert.entities import EntityCrossing, EntityFinding, crossing_rules, entity_findings
from kpitree.alert.routing import largest_gap_target
from kpitree.alert.rules import Condition
from kpitree.analysis.variance import VarianceReport
from kpitree.display import display_of
from kpitree.spec.models import AlertRuleSpec
from kpitree.spec.models.alerts import (
    AnomalyRule,
    BandRule,
    ChangeRule,
    EntityBandRule,
    SlideRule,
    ThresholdRule,
)
from kpitree.tree import MetricTree
from kpitree.warehouse import Warehouse


@dataclass(frozen=True)
class Finding:
    node_id: str
    rule: AlertRuleSpec
    condition: Condition
    branch: str  # the node whose owners hear about it: the largest-gap branch, or the type that fell
    entity: str = ""  # '' for the node as a whole
    crossing: EntityCrossing | None = None
    segment: str | None = None  # the branch's segment_by value the gap ended in: its owners hear


def history_needed(tree: MetricTree) -> int:
    """Periods (the current one included) that slide and anomaly rules read."""
    needed = 1
    for node in tree.nodes.values():
        for rule in node.alerts:
            if isinstance(rule, SlideRule):
                needed = max(needed, rule.periods + 1)
            elif isinstance(rule, AnomalyRule):
                needed = max(needed, rule.trailing + 1)
    return needed


def wants_year_ago(tree: MetricTree) -> bool:
    return any(isinstance(r, ChangeRule) and r.compare == "yoy" for n in tree.nodes.values() for r in n.alerts)


def evaluate(
    report: VarianceReport,
    warehouse: Warehouse,
    year_ago: Mapping[str, float | None] | None = None,
    firing_entities: Mapping[tuple[str, str], Collection[str]] | None = None,
) -> list[Finding]:
    """Every rule of every node of the report's tree, in tree order.

    ``year_ago`` holds node values a year before (for ``compare: yoy`` change rules);
    ``firing_entities`` the entities already firing per (node, rule), which a run may resolve.
    """
    tree = report.tree
    snapshot = report.snapshot
    findings: list[Finding] = []
    for node_id, node in tree.nodes.items():
        if not node.alerts:
            continue
        result = snapshot.result(node_id)
        value = result.current.value
        history: Sequence[float | None] = report.trend.values[node_id] if report.trend else (value,)
        branch, segment = largest_gap_target(tree, report.attribution, node_id)
        shown = display_of(node)
        asked = crossing_rules(node, firing_entities)
        by_rule: dict[str, list[EntityFinding]] = {}
        if asked and snapshot.compare_window is not None:
            # All of the node's crossing rules in one statement over the same per-contact scores,
            # found with the computation when it was asked for these (a run's).
            answered = report.computation.crossings.get(node_id) if report.computation else None
            found_all = entity_findings(
                tree, node, asked, snapshot.window, snapshot.compare_window, warehouse, snapshot.segment, answered
            )
            by_rule = {r.id: found for (r, _firing), found in zip(asked, found_all, strict=True)}
        for rule in node.alerts:
            if isinstance(rule, EntityBandRule):
                for found in by_rule.get(rule.id, []):
                    crossing = found.crossing
                    findings.append(
                        Finding(
                            node_id, rule, found.condition, crossing.fell_most or node_id, crossing.entity, crossing
                        )
                    )
                continue
            if isinstance(rule, ThresholdRule):
                condition = rules.threshold(rule, value, shown)
            elif isinstance(rule, BandRule):
                status = result.target if rule.against == "target" else result.benchmark
                condition = rules.band(status.status if status else None, status.name if status else "", value, shown)
            elif isinstance(rule, ChangeRule):
                compare = result.compare.value if result.compare else None
                if rule.compare == "yoy":
                    compare = (year_ago or {}).get(node_id)
                condition = rules.change(rule, value, compare, shown)
            elif isinstance(rule, SlideRule):
                condition = rules.slide(rule, history, node.direction, shown)
            else:
                condition = rules.anomaly(rule, history, shown)
            findings.append(Finding(node_id, rule, condition, branch, segment=segment))
    return findings
