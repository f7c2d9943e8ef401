"""The variance report as Markdown (with a Mermaid diagram), self-contained HTML, and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from kpitree.analysis.attribution import is_bad
from kpitree.analysis.variance import Trend, VarianceReport, owner_name
from kpitree.display import display_of, number
from kpitree.impact.describe import InterventionSummary, summary_lines
from kpitree.report.picture import BOX_HEIGHT, BOX_WIDTH, SPARK_WIDTH, contribution_colour, lay_out, sparkline
from kpitree.report.rows import (
    Row,
    headline,
    per_view_text,
    per_views,
    report_rows,
    score_split_sentence,
    segment_views,
    signed,
    with_unit,
)
from kpitree.report.where_moved import where_moved_html, where_moved_markdown
from kpitree.templating.html import html_environment
from kpitree.tree import tree_calendar

REPORT_CSV_COLUMNS = (
    "node", "parent", "on_largest_gap_path", "title", "unit", "value", "compare_value", "delta",
    "contribution_to_parent", "share_of_parent", "contribution_to_kpi", "status", "responsible", "accountable",
    "method", "note", "ageing", "new_activity",
)  # fmt: skip


def report_markdown(report: VarianceReport, interventions: Sequence[InterventionSummary] = ()) -> str:
    tree = report.tree
    rows = report_rows(report)
    lines = [f"# {tree.title}: {tree_calendar(tree).label(report.snapshot.period)}", "", headline(report), ""]
    lines += ["```mermaid", "graph LR", *_mermaid(report, rows), "```", ""]
    lines += [
        "| node | value | compared | change | to parent | share | to KPI | status | responsible | accountable |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        title = f"**{_md(row.title)}**" if row.on_path else _md(row.title)
        lines.append(
            f"| {title} | {row.value} | {row.compare} | {row.delta} | {row.contribution} | {row.share} | "
            f"{row.to_kpi} | {_md(row.status)} | {_md(row.responsible)} | {_md(row.accountable)} |"
        )
    offsetting = report.attribution.offsetting
    if offsetting:
        lines += ["", "Moved the KPI the other way:"]
        kpi = tree.node(tree.root)
        shown = display_of(kpi)
        lines += [
            f"- {_md(tree.node(o.child).title)} ({with_unit(signed(o.to_root, shown), kpi.unit, shown)})"
            for o in offsetting
        ]
    lines += _score_split_markdown(report, rows)
    lines += where_moved_markdown(report)
    lines += _segments_markdown(report)
    lines += _per_views_markdown(report)
    notes = [row for row in rows if row.note]
    if notes:
        lines += ["", "Notes:"] + [f"- {_md(row.title)}: {_md(row.note)}" for row in notes]
    if interventions:
        lines += ["", "## Interventions", ""] + [f"- {_md(line)}" for line in summary_lines(interventions)]
    return "\n".join(lines) + "\n"


def _score_split_markdown(report: VarianceReport, rows: list[Row]) -> list[str]:
    lines = []
    for node_id, change in report.score_changes.items():
        node = report.tree.node(node_id)
        split_rows = [row for row in rows if row.node_id == node_id or row.parent == node_id]
        lines += [
            "",
            f"## {_md(node.title)}: new activity and ageing",
            "",
            _md(score_split_sentence(change, node.unit)),
        ]
        lines += ["", "| part | change | ageing | new activity |", "|---|---:|---:|---:|"]
        lines += [f"| {_md(row.title)} | {row.delta} | {row.ageing} | {row.new_activity} |" for row in split_rows]
    return lines


def _segments_markdown(report: VarianceReport) -> list[str]:
    lines = []
    for node_id, view in segment_views(report):
        node = report.tree.node(node_id)
        lines += ["", f"## {_md(node.title)}: mix and rate by {_md(view.split_by)}", ""]
        if view.reason:
            lines.append(f"Not split by segment: {_md(view.reason)}.")
            continue
        shown = display_of(node)
        lines += ["| segment | part of the change | rate | mix |", "|---|---:|---:|---:|"]
        lines += [
            f"| {_md(s.pair.label)} | {signed(s.effect.total, shown)} | {signed(s.effect.rate, shown)} "
            f"| {signed(s.effect.mix, shown)} |"
            for s in view.segments
        ]
        if abs(view.residual) > 1e-9:
            lines.append(f"| not explained by the segments | {signed(view.residual, shown)} | | |")
    return lines


def _per_views_markdown(report: VarianceReport) -> list[str]:
    lines = []
    for node_id, view in per_views(report):
        text = per_view_text(report, node_id, view)
        lines += ["", f"## {_md(text.title)}", "", _md(text.sentence)]
        if text.parts:
            lines += [
                "",
                "| part | effect |",
                "|---|---:|",
                *(f"| {_md(part)} | {value} |" for part, value in text.parts),
            ]
    return lines


def _mermaid(report: VarianceReport, rows: list[Row]) -> list[str]:
    tree = report.tree
    out = []
    for row in rows:
        parts = [row.title, f"{row.value} ({row.delta or 'n/a'})"] + (
            [f"R: {row.responsible}"] if row.responsible else []
        )
        out.append(f'  {row.node_id}["{"<br/>".join(_mermaid_text(part) for part in parts)}"]')
    for node in tree.nodes.values():
        out += [f"  {node.id} --> {child}" for child in node.children]
    path = report.attribution.largest_gap_path
    if len(path) > 1:
        out.append("  classDef gap stroke:#d73027,stroke-width:3px")
        out.append(f"  class {','.join(path)} gap")
    return out


def _mermaid_text(text: str) -> str:
    """Mermaid entity codes: a quote would end the label, angle brackets would be read as HTML."""
    return text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report_csv(report: VarianceReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(REPORT_CSV_COLUMNS)
    for row in report_rows(report):
        writer.writerow(
            [row.node_id, row.parent or "", "yes" if row.on_path else "", row.title, row.unit, row.value, row.compare,
             row.delta, row.contribution, row.share, row.to_kpi, row.status, row.responsible, row.accountable,
             row.method, row.note, row.ageing, row.new_activity]
        )  # fmt: skip
    return out.getvalue()


def report_html(report: VarianceReport, interventions: Sequence[InterventionSummary] = ()) -> str:
    context = _html_context(report)
    context["interventions"] = [
        {"item": item, "line": line} for item, line in zip(interventions, summary_lines(interventions), strict=True)
    ]
    context["marks"] = _intervention_marks(report, interventions)
    return html_environment().render("report/variance.html.j2", context)


def _intervention_marks(
    report: VarianceReport, interventions: Sequence[InterventionSummary]
) -> dict[str, list[dict[str, Any]]]:
    """Per node, where on its sparkline each of its interventions starts (x in the 120 px line)."""
    trend = report.trend
    if trend is None or not interventions:
        return {}
    calendar = tree_calendar(report.tree)
    count = len(trend.labels)
    periods = [calendar.shift(report.snapshot.period, k - (count - 1)) for k in range(count)]
    step = SPARK_WIDTH / max(count - 1, 1)
    marks: dict[str, list[dict[str, Any]]] = {}
    for item in interventions:
        for index, period in enumerate(periods):
            if period.start <= item.start < period.end:
                label = f"#{item.id} from {item.start}: {item.verdict or 'not evaluated yet'}"
                marks.setdefault(item.node_id, []).append({"x": round(index * step, 1), "label": label})
    return marks


def _html_context(report: VarianceReport) -> dict[str, Any]:
    tree = report.tree
    rows = report_rows(report)
    by_id = {row.node_id: row for row in rows}
    picture = lay_out(tree)
    kpi = tree.node(tree.root)
    largest = max((abs(r.to_kpi_number) for r in rows if r.to_kpi_number is not None), default=0.0)
    bad_is_negative = is_bad(-1.0, kpi.direction)
    path = report.attribution.largest_gap_path
    boxes = [
        {
            "x": box.x,
            "y": box.y,
            "row": by_id[box.node_id],
            "fill": contribution_colour(by_id[box.node_id].to_kpi_number, largest, bad_is_negative),
            "on_path": box.node_id in path,
        }
        for box in picture.boxes
    ]
    trend = report.trend
    return {
        "title": f"{tree.title}: {tree_calendar(tree).label(report.snapshot.period)}",
        "headline": headline(report),
        "rows": rows,
        "picture": picture,
        "boxes": boxes,
        "box_width": BOX_WIDTH,
        "box_height": BOX_HEIGHT,
        "sparklines": {row.node_id: sparkline(trend.values[row.node_id]) if trend else () for row in rows},
        "trend_labels": f"{trend.labels[0]} to {trend.labels[-1]}" if trend else "",
        "trend_recorded": recorded_note(trend),
        "offsetting": [
            {"title": tree.node(o.child).title, "to_kpi": number(o.to_root)} for o in report.attribution.offsetting
        ],
        "gap_owners": [owner_name(tree, o) for o in report.attribution.gap_owners.responsible],
        "kpi_unit": kpi.unit,
        "segment_views": _segment_views_html(report),
        "where_moved": where_moved_html(report),
        "per_views": [per_view_text(report, node_id, view) for node_id, view in per_views(report)],
        "score_splits": [
            {
                "title": tree.node(node_id).title,
                "sentence": score_split_sentence(change, tree.node(node_id).unit),
                "rows": [row for row in rows if row.node_id == node_id or row.parent == node_id],
            }
            for node_id, change in report.score_changes.items()
        ],
        "warnings": [*report.snapshot.warnings, *report.drill_notes],
    }


def _segment_views_html(report: VarianceReport) -> list[dict[str, Any]]:
    return [
        {
            "title": report.tree.node(node_id).title,
            "split_by": view.split_by,
            "reason": view.reason,
            "segments": [
                {
                    "label": s.pair.label,
                    "total": signed(s.effect.total, display_of(report.tree.node(node_id))),
                    "rate": signed(s.effect.rate, display_of(report.tree.node(node_id))),
                    "mix": signed(s.effect.mix, display_of(report.tree.node(node_id))),
                }
                for s in view.segments
            ],
        }
        for node_id, view in segment_views(report)
    ]


def recorded_note(trend: Trend | None) -> str:
    """Which trend periods show values stored earlier, rather than computed now."""
    if trend is None or not trend.recorded:
        return ""
    return (
        f"{len(trend.recorded)} of the {len(trend.labels)} trend periods show the values stored earlier for this "
        "tree file (by kpitree compute, run or an earlier report); the others were computed now"
    )
