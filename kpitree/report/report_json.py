"""The variance report as JSON (``kpitree report --format json``; docs/report-json.md): the
snapshot's nodes, each with its attribution, trend and score change."""

from __future__ import annotations

from typing import Any

from kpitree.analysis.attribution import NodeAttribution
from kpitree.analysis.score_change import ScoreChange
from kpitree.analysis.segments import PerView, SegmentView
from kpitree.analysis.variance import VarianceReport, owner_name
from kpitree.render.snapshot_data import owners_dict, snapshot_json
from kpitree.report.where_moved import where_moved_json
from kpitree.tree import MetricTree, Owners


def owners_json(tree: MetricTree, owners: Owners) -> dict[str, Any]:
    ids = owners_dict(owners)
    every = [*owners.responsible, *([owners.accountable] if owners.accountable else []), *owners.consulted]
    return {**ids, "names": {owner: owner_name(tree, owner) for owner in [*every, *owners.informed]}}


def report_json(report: VarianceReport) -> dict[str, Any]:
    data = snapshot_json(report.snapshot)
    attribution = report.attribution
    tree = report.tree
    for node in data["nodes"]:
        node.update(_attribution_json(attribution.nodes[node["id"]]))
        if report.trend is not None:
            node["trend"] = list(report.trend.values[node["id"]])
        if node["id"] in report.score_changes:
            node["score_change"] = score_change_json(report.score_changes[node["id"]])
    order = {node_id: index for index, node_id in enumerate(report.node_order())}
    data["nodes"].sort(key=lambda n: order[n["id"]])
    data["largest_gap_path"] = list(attribution.largest_gap_path)
    data["largest_gap_owners"] = owners_json(tree, attribution.gap_owners)
    step = attribution.gap_segment
    data["largest_gap_segment"] = (
        None
        if step is None
        else {
            "node": step.ratio,
            "split_by": step.split_by,
            "segment": step.segment.pair.label,
            "branch": step.segment.pair.numerator,
            "to_root": step.to_root,
            "total": step.segment.effect.total,
            "rate": step.segment.effect.rate,
            "mix": step.segment.effect.mix,
        }
    )
    data["offsetting"] = [{"parent": o.parent, "child": o.child, "to_root": o.to_root} for o in attribution.offsetting]
    data["where_moved"] = where_moved_json(report)
    data["trend_periods"] = list(report.trend.labels) if report.trend else []
    data["trend_recorded"] = list(report.trend.recorded) if report.trend else []
    return data


def _attribution_json(node: NodeAttribution) -> dict[str, Any]:
    return {
        "method": node.method.value if node.method else None,
        "contributions": [
            {"child": c.child, "value": c.value, "share": c.share, "to_root": c.to_root} for c in node.contributions
        ],
        "residual": node.residual,
        "attribution_reason": node.reason,
        "to_root": node.to_root,
        "barely_moved": node.barely_moved,
        **({"segments": _segments_json(node.segments)} if node.segments is not None else {}),
        **({"per_view": _per_view_json(node.per)} if node.per is not None else {}),
    }


def _per_view_json(view: PerView) -> dict[str, Any]:
    return {
        "denominator": view.denominator,
        "before": view.before,
        "after": view.after,
        "parts": [{"child": child, "value": value} for child, value in view.parts.items()],
        "denominator_effect": view.denominator_effect,
        "reason": view.reason,
    }


def _segments_json(view: SegmentView) -> dict[str, Any]:
    return {
        "split_by": view.split_by,
        "segments": [
            {
                "segment": s.pair.label,
                "numerator": s.pair.numerator,
                "denominator": s.pair.denominator,
                "total": s.effect.total,
                "rate": s.effect.rate,
                "mix": s.effect.mix,
            }
            for s in view.segments
        ],
        "residual": view.residual,
        "reason": view.reason,
    }


def score_change_json(change: ScoreChange) -> dict[str, Any]:
    return {
        "subject": change.subject,
        "before": change.before.score,
        "aged": change.aged.score,
        "after": change.after.score,
        "ageing": change.ageing,
        "new_activity": change.new_activity,
        "only_ageing": change.only_ageing,
        "by_type": [{"type": t.type_id, "ageing": t.ageing, "new_activity": t.new_activity} for t in change.types],
    }
