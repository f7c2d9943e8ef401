"""What a message says about one alert, as plain data: stored with the alert's event (so the audit
trail and a later digest show what was known then) and handed to the templates.

Numbers are formatted here, once, so the email, the Slack post and the digest agree.
"""

from __future__ import annotations

import math
from typing import Any

from kpitree.alert.evaluate import Finding
from kpitree.alert.routing import Route
from kpitree.analysis.attribution import worst_segment
from kpitree.analysis.variance import VarianceReport, owner_name
from kpitree.display import PLAIN, Display, change, display_of, number, pair
from kpitree.tree import MetricTree

AlertView = dict[str, Any]


def alert_view(report: VarianceReport, finding: Finding, kind: str, route: Route) -> AlertView:
    tree = report.tree
    node = tree.node(finding.node_id)
    attributed = report.attribution.nodes[finding.node_id]
    branch = tree.node(route.branch)
    branch_attribution = report.attribution.nodes[route.branch]
    owners = route.owners
    crossing = finding.crossing
    view: AlertView = {
        "kind": kind,
        "severity": finding.rule.severity,
        "rule": finding.rule.id,
        "rule_kind": finding.rule.rule,
        "description": finding.rule.description,
        "node": {"id": node.id, "title": node.title, "unit": node.unit},
        "entity": finding.entity,
        "summary": finding.condition.summary,
        # About one entity (a crossing), its own score moved, not the node's: set below.
        "movement": movement(attributed.before, attributed.after, node.unit, display_of(node))
        if crossing is None
        else {},
        "branch": {
            "id": branch.id,
            "title": branch.title,
            "is_node": branch.id == node.id,
            "movement": (
                movement(branch_attribution.before, branch_attribution.after, branch.unit, display_of(branch))
                if crossing is None
                else {}
            ),
            "owner": ", ".join(route.names[o] for o in owners.responsible) or None,
        },
        "responsible": [route.names[o] for o in owners.responsible],
        "accountable": route.names[owners.accountable] if owners.accountable else None,
        "consulted": list(route.consulted),
        "informed": [route.names[o] for o in owners.informed],
        "flags": list(route.flags),
        "crossing": None,
        "where": None if crossing is not None else _where(report, route.branch, finding.node_id),
    }
    if crossing is not None:
        # About one entity: its own score moved, and its branch is the type that fell for it.
        view["movement"] = movement(crossing.score_before, crossing.score_after, node.unit)
        view["branch"]["movement"] = {"text": f"{crossing.moved_by:+.1f} points for {crossing.kind} {crossing.entity}"}
        view["branch"]["is_node"] = crossing.fell_most is None
        view["crossing"] = {
            "entity": crossing.entity,
            "kind": crossing.kind,
            "band_before": crossing.band_before,
            "band_after": crossing.band_after,
            "score_before": number(crossing.score_before),
            "score_after": number(crossing.score_after),
            "fell_most": tree.node(crossing.fell_most).title if crossing.fell_most else None,
            "moved_by": f"{crossing.moved_by:+.1f}",
            # Unformatted, for ranking and the CSV of a message's entities.
            "drop": (crossing.score_before or 0.0) - crossing.score_after,
        }
    return view


def _where(report: VarianceReport, branch: str, node_id: str) -> dict[str, Any] | None:
    """The segment behind the movement, when one explains most of it: the branch's drill, else the
    node's ("-234 touches, 98% of it segment=SMB, region=EMEA")."""
    for candidate in (branch, node_id):
        drill = report.drills.get(candidate)
        if drill is None:
            continue
        top, delta = drill.top, drill.delta
        if top is None or delta is None:
            continue
        node = report.tree.node(candidate)
        shown = display_of(node)
        amount = change(delta, shown) + ("" if shown.percent or not node.unit else f" {node.unit}")
        share = top.contribution / delta
        return {"node": node.title, "text": f"{amount}, {share:.0%} of it {top.label}", "segment": top.label}
    return _where_in_segments(report, node_id)


def _where_in_segments(report: VarianceReport, node_id: str) -> dict[str, Any] | None:
    """A ratio's mix-and-rate segment that moved it most the bad way, when it carries most of the
    movement: "-2.8 pp, 100% of it region=LATAM (-2.8 pp its own rate, +0 pp its share)"."""
    attributed = report.attribution.nodes[node_id]
    node = attributed.node
    worst, delta, view = worst_segment(attributed, node.direction), attributed.delta, attributed.segments
    if worst is None or not delta or view is None or worst.effect.total / delta < 0.5:
        return None
    shown = display_of(node)
    unit = "" if shown.percent or not node.unit else f" {node.unit}"
    label = f"{view.split_by}={worst.pair.label}"
    effect = worst.effect
    text = (
        f"{change(delta, shown)}{unit}, {effect.total / delta:.0%} of it {label} "
        f"({change(effect.rate, shown)}{unit} its own rate, {change(effect.mix, shown)}{unit} its share)"
    )
    return {"node": node.title, "text": text, "segment": label}


def movement(before: float | None, after: float | None, unit: str, display: Display = PLAIN) -> dict[str, Any]:
    """Before, after, change and percent change, formatted; ``text`` says it in one phrase."""
    delta = None if before is None or after is None else after - before
    pct = None
    if delta is not None and before:
        pct = delta / abs(before) * 100
    shown_before, shown_after = pair(before, after, display)
    text = f"{shown_before} -> {shown_after} {unit}".strip()
    if delta is not None:
        text += f" ({change(delta, display)}"
        text += f", {pct:+.1f}%)" if pct is not None and math.isfinite(pct) else ")"
    return {"before": shown_before, "after": shown_after, "delta": change(delta, display), "pct": pct, "text": text}


def sample_view(tree: MetricTree) -> AlertView:
    """A made-up alert on the tree's KPI: what ``alerts test-send`` sends and templates are checked with."""
    root = tree.node(tree.root)
    return {
        "kind": "firing",
        "severity": "warning",
        "rule": "sample",
        "rule_kind": "change",
        "description": "A sample alert from kpitree alerts test-send.",
        "node": {"id": root.id, "title": root.title, "unit": root.unit},
        "entity": "",
        "summary": "fell 12% (5.00 -> 4.40): past 10% and 0.5 (sample)",
        "movement": movement(5.0, 4.4, root.unit),
        "branch": {
            "id": root.id,
            "title": root.title,
            "is_node": True,
            "movement": movement(5.0, 4.4, root.unit),
            "owner": ", ".join(owner_name(tree, o) for o in root.owners.responsible) or None,
        },
        "responsible": [owner_name(tree, o) for o in root.owners.responsible],
        "accountable": owner_name(tree, root.owners.accountable) if root.owners.accountable else None,
        "consulted": [owner_name(tree, o) for o in root.owners.consulted],
        "informed": [owner_name(tree, o) for o in root.owners.informed],
        "flags": [],
        "crossing": {
            "entity": "sample-contact",
            "kind": "contact",
            "band_before": "Engaged",
            "band_after": "At risk",
            "score_before": "62",
            "score_after": "41",
            "fell_most": "Product usage",
            "moved_by": "-15.0",
            "drop": 21.0,
        },
        "where": {
            "node": root.title,
            "text": "-0.6, 92% of it segment=SMB, region=EMEA (sample)",
            "segment": "segment=SMB, region=EMEA",
        },
    }
