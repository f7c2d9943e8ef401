"""``kpitree drill`` output: JSON (the data; docs/cli.md), text for the terminal, and Markdown.

Segment names are warehouse values: Markdown escapes them, the text output strips control
characters (the CLI's echo), and JSON carries them as strings.
"""

from __future__ import annotations

from typing import Any, Final

from kpitree.analysis.drill import Drill, SegmentChange
from kpitree.analysis.drill_run import DrillRun
from kpitree.compute.drill import NO_VALUE
from kpitree.display import Display, display_of, pair
from kpitree.report.rows import signed, with_unit
from kpitree.tree import MetricTree, tree_calendar

TOP_SEGMENTS: Final = 20  # segments listed beside the cover, largest first


def where_text(segment: SegmentChange) -> str:
    """``segment=SMB, region=EMEA``."""
    return segment.label


def drill_json(run: DrillRun, node_id: str, depth: int) -> dict[str, Any]:
    drill = run.drills[node_id]
    calendar = tree_calendar(run.tree)
    node = run.tree.node(node_id)
    return {
        "tree": run.tree.id,
        "node": node_id,
        "title": node.title,
        "period": calendar.label(run.period),
        "compare": calendar.label(run.compare),
        "comparison": run.comparison.value,
        "method": "ratio" if drill.is_ratio else "additive",
        "by": list(drill.dimensions),
        "depth": depth,
        "value": drill.after,
        "compare_value": drill.before,
        "delta": drill.delta,
        "segments": [segment_json(drill, s) for s in drill.cover],
        "explained": drill.explained,
        "explained_share": drill.explained / drill.delta if drill.delta else None,
        "residual": drill.residual,
        "top_segments": [segment_json(drill, s) for s in drill.segments[:TOP_SEGMENTS]],
        "segment_count": len(drill.segments),
        "reason": drill.reason,
        "notes": list(drill.notes),
    }


def segment_json(drill: Drill, segment: SegmentChange) -> dict[str, Any]:
    return {
        "where": {dim: None if value == NO_VALUE else value for dim, value in segment.where},
        "value": segment.after,
        "compare_value": segment.before,
        "contribution": segment.contribution,
        "share": drill.share(segment),
        "effects": None if segment.rate is None else {"rate": segment.rate, "mix": segment.mix},
        "rows": {"compare": segment.rows_before, "value": segment.rows_after},
    }


def summary_sentence(run: DrillRun, node_id: str) -> str:
    """'Call touches went from 1,175 to 624 touches from 2026-09 to 2026-10 (-551 touches); ...'"""
    calendar = tree_calendar(run.tree)
    periods = f"from {calendar.label(run.compare)} to {calendar.label(run.period)}"
    return drill_sentence(run.tree, node_id, run.drills[node_id], periods)


def drill_sentence(tree: MetricTree, node_id: str, drill: Drill, periods: str) -> str:
    node = tree.node(node_id)
    shown = display_of(node)
    if drill.delta is None or drill.reason:
        return f"{node.title} {periods}: {drill.reason or 'no value in one period'}."
    before, after = pair(drill.before, drill.after, shown)
    moved = (
        f"{node.title} went from {before} to {with_unit(after, node.unit, shown)} {periods} "
        f"({_amount(drill.delta, node.unit, shown)})"
    )
    if not drill.cover:
        return f"{moved}; no segment of {', '.join(drill.dimensions)} explains a notable part of it."
    first = f"{moved}; {drill.cover[0].contribution / drill.delta:.0%} of it is {where_text(drill.cover[0])}"
    if len(drill.cover) == 1:
        return f"{first}."
    more = len(drill.cover) - 1
    return (
        f"{first} (with {more} more segment{'s' if more > 1 else ''} that do not overlap, "
        f"{drill.explained / drill.delta:.0%})."
    )


def drill_text(run: DrillRun, node_id: str) -> str:
    drill = run.drills[node_id]
    node = run.tree.node(node_id)
    shown = display_of(node)
    lines = [summary_sentence(run, node_id), ""]
    if drill.cover:
        lines.append("Where it moved (segments that do not overlap):")
        lines += [f"  {_line(drill, s, node.unit, shown)}" for s in drill.cover]
        lines.append(f"  rest of the population: {_amount(drill.residual, node.unit, shown)}")
        lines.append("")
    if drill.segments:
        lines.append(
            f"Largest segments ({min(TOP_SEGMENTS, len(drill.segments))} of {len(drill.segments)}; they overlap):"
        )
        lines += [f"  {_line(drill, s, node.unit, shown)}" for s in drill.segments[:TOP_SEGMENTS]]
    lines += [f"note: {note}" for note in drill.notes]
    return "\n".join(lines).rstrip() + "\n"


def _line(drill: Drill, segment: SegmentChange, unit: str, shown: Display) -> str:
    before, after = pair(segment.before, segment.after, shown)
    share = drill.share(segment)
    parts = [f"{where_text(segment)}: {_amount(segment.contribution, unit, shown)}"]
    if share is not None:
        parts.append(f"({share:.0%})")
    parts.append(f"{before} -> {after}")
    if segment.rate is not None and segment.mix is not None:
        parts.append(f"[rate {signed(segment.rate, shown)}, mix {signed(segment.mix, shown)}]")
    return " ".join(parts)


def _amount(value: float, unit: str, shown: Display) -> str:
    return with_unit(signed(value, shown), unit, shown)


def drill_markdown(run: DrillRun, node_id: str) -> str:
    drill = run.drills[node_id]
    node = run.tree.node(node_id)
    lines = [f"# {_md(node.title)}: where it moved", "", _md(summary_sentence(run, node_id)), ""]
    lines += segment_table(drill, node.unit, display_of(node), drill.cover, with_rest=True)
    if drill.segments:
        lines += ["", f"Largest segments (they overlap; {len(drill.segments)} in all):", ""]
        lines += segment_table(drill, node.unit, display_of(node), drill.segments[:TOP_SEGMENTS])
    if drill.notes:
        lines += ["", *(f"- note: {_md(note)}" for note in drill.notes)]
    return "\n".join(lines).rstrip() + "\n"


def segment_table(
    drill: Drill, unit: str, shown: Display, segments: tuple[SegmentChange, ...], *, with_rest: bool = False
) -> list[str]:
    """A Markdown table of segments (the report's "where it moved" uses it too)."""
    if not segments:
        return []
    ratio = drill.is_ratio
    lines = [
        "| segment | compared | value | contribution | share |" + (" rate | mix |" if ratio else ""),
        "|---|---:|---:|---:|---:|" + ("---:|---:|" if ratio else ""),
    ]
    for s in segments:
        before, after = pair(s.before, s.after, shown)
        share = drill.share(s)
        row = f"| {_md(where_text(s))} | {before} | {after} | {_amount(s.contribution, unit, shown)} | "
        row += f"{'' if share is None else f'{share:.0%}'} |"
        if ratio:
            row += f" {signed(s.rate, shown)} | {signed(s.mix, shown)} |"
        lines.append(row)
    if with_rest:
        lines.append(f"| the rest | | | {_amount(drill.residual, unit, shown)} | |" + (" | |" if ratio else ""))
    return lines


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
