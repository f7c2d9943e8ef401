"""The report's "where it moved" sections: the drill of each node on the largest-gap path.

Each lists the non-overlapping segments that explain most of the node's movement and the rest of
the population (Markdown table; HTML bars, drawn to scale; JSON as ``kpitree drill`` gives it).
"""

from __future__ import annotations

from typing import Any

from kpitree.analysis.attribution import is_bad
from kpitree.analysis.drill import Drill
from kpitree.analysis.variance import VarianceReport
from kpitree.display import display_of
from kpitree.report.drill_render import drill_sentence, segment_json, segment_table, where_text
from kpitree.report.rows import signed, with_unit
from kpitree.tree import tree_calendar


def _periods(report: VarianceReport) -> str:
    snapshot = report.snapshot
    calendar = tree_calendar(report.tree)
    if snapshot.compare_window is None:
        return f"in {calendar.label(snapshot.period)}"
    return f"from {calendar.label(snapshot.compare_window.period)} to {calendar.label(snapshot.period)}"


def _drilled(report: VarianceReport) -> list[tuple[str, Drill]]:
    return [(n, report.drills[n]) for n in report.attribution.largest_gap_path if n in report.drills]


def where_moved_markdown(report: VarianceReport) -> list[str]:
    lines = []
    for node_id, drill in _drilled(report):
        node = report.tree.node(node_id)
        lines += ["", f"## {_md(node.title)}: where it moved", ""]
        lines.append(_md(drill_sentence(report.tree, node_id, drill, _periods(report))))
        table = segment_table(drill, node.unit, display_of(node), drill.cover, with_rest=True)
        if table:
            lines += ["", *table]
    lines += [f"\n{_md(note)}" for note in report.drill_notes]
    return lines


def where_moved_html(report: VarianceReport) -> list[dict[str, Any]]:
    """Per drilled node: its sentence and one bar per segment (and the rest), widths in percent of
    the largest, coloured by whether the segment moved the node its bad way."""
    sections = []
    for node_id, drill in _drilled(report):
        node = report.tree.node(node_id)
        shown = display_of(node)
        parts = [(where_text(s), s.contribution) for s in drill.cover]
        if drill.cover:
            parts.append(("the rest", drill.residual))
        largest = max((abs(v) for _, v in parts), default=0.0) or 1.0
        bars = [
            {
                "label": label,
                "amount": with_unit(signed(value, shown), node.unit, shown),
                "width": round(100 * abs(value) / largest, 1),
                "bad": bool(value) and is_bad(value, node.direction),
            }
            for label, value in parts
        ]
        sections.append(
            {
                "title": node.title,
                "sentence": drill_sentence(report.tree, node_id, drill, _periods(report)),
                "bars": bars,
            }
        )
    return sections


def where_moved_json(report: VarianceReport) -> list[dict[str, Any]]:
    return [
        {
            "node": node_id,
            "by": list(drill.dimensions),
            "delta": drill.delta,
            "segments": [segment_json(drill, s) for s in drill.cover],
            "explained": drill.explained,
            "residual": drill.residual,
            "reason": drill.reason,
            "notes": list(drill.notes),
        }
        for node_id, drill in _drilled(report)
    ]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
