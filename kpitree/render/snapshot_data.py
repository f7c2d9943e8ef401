"""``kpitree compute`` output as data: JSON (documented in docs/compute-json.md) and CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

from kpitree import __version__
from kpitree.compute.scores import ScoreSummary
from kpitree.compute.snapshot import NodeResult, Snapshot
from kpitree.tree import MetricTree, Owners, tree_calendar

JSON_SCHEMA_VERSION = 1
CSV_COLUMNS = (
    "tree",
    "period",
    "node",
    "parent",
    "title",
    "unit",
    "value",
    "compare_value",
    "delta",
    "per_value",
    "band_status",
    "benchmark",
    "benchmark_status",
    "band",
    "reason",
)


def depths(tree: MetricTree) -> dict[str, int]:
    """Each node's depth where it first appears walking down from the root."""
    found: dict[str, int] = {}
    for depth, node in tree.walk():
        found.setdefault(node.id, depth)
    return found


def snapshot_json(snapshot: Snapshot) -> dict[str, Any]:
    tree = snapshot.tree
    calendar = tree_calendar(tree)
    compare: dict[str, Any] | None = None
    if snapshot.comparison is not None:
        compare = {"kind": snapshot.comparison.value}
        if snapshot.compare_window is not None:
            compare.update(_period_json(calendar.label(snapshot.compare_window.period), snapshot.compare_window.period))
    level = depths(tree)
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "kpitree_version": __version__,
        "tree": tree.id,
        "title": tree.title,
        "tree_version": tree.version,
        "timezone": tree.timezone,
        "period": {
            **_period_json(calendar.label(snapshot.period), snapshot.period),
            "grain": snapshot.period.grain.value,
        },
        "compare": compare,
        "where": snapshot.segment.as_dict(),
        "nodes": [_node_json(result, level.get(result.node.id)) for result in snapshot.results],
        "scores": {node_id: _score_json(summary) for node_id, summary in snapshot.scores.items()},
        "warnings": list(snapshot.warnings),
    }


def _period_json(label: str, period: Any) -> dict[str, Any]:
    return {"label": label, "start": period.start.isoformat(), "end": period.end.isoformat()}


def _node_json(result: NodeResult, depth: int | None) -> dict[str, Any]:
    node = result.node
    return {
        "id": node.id,
        "title": node.title,
        "kind": node.kind.value,
        "parent": node.parent,
        "depth": depth,
        "unit": node.unit,
        "display": node.display,
        "decimals": node.decimals,
        "direction": node.direction.value,
        "value": result.current.value,
        "reason": result.current.reason,
        "compare_value": result.compare.value if result.compare else None,
        "compare_reason": result.compare.reason if result.compare else None,
        "delta": result.delta,
        "band_status": result.target.status if result.target else None,
        "target": node.target.model_dump(exclude_none=True) if node.target else None,
        "benchmark": {"name": result.benchmark.name, "status": result.benchmark.status} if result.benchmark else None,
        "band": result.score_band,
        "per": (
            {"node": node.per, "value": result.per.value, "reason": result.per.reason}
            if node.per and result.per
            else None
        ),
        "owners": owners_dict(node.owners),
    }


def owners_dict(owners: Owners) -> dict[str, Any]:
    return {
        "responsible": list(owners.responsible),
        "accountable": owners.accountable,
        "consulted": list(owners.consulted),
        "informed": list(owners.informed),
    }


def _score_json(summary: ScoreSummary) -> dict[str, Any]:
    return {
        "contacts": summary.contacts,
        "bands": dict(summary.band_shares),
        "roll_ups": [
            {"entity": r.entity, "count": r.count, "mean_score": r.mean_score, "bands": dict(r.band_shares)}
            for r in summary.roll_ups
        ],
    }


def snapshot_csv(snapshot: Snapshot) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    label = tree_calendar(snapshot.tree).label(snapshot.period)
    for r in snapshot.results:
        writer.writerow(
            [
                snapshot.tree.id,
                label,
                r.node.id,
                r.node.parent or "",
                r.node.title,
                r.node.unit,
                _csv_number(r.current.value),
                _csv_number(r.compare.value if r.compare else None),
                _csv_number(r.delta),
                _csv_number(r.per.value if r.per else None),
                r.target.status if r.target else "",
                r.benchmark.name if r.benchmark else "",
                r.benchmark.status if r.benchmark else "",
                r.score_band or "",
                r.current.reason or "",
            ]
        )
    return out.getvalue()


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(value)
