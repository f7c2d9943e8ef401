"""``kpitree compute`` output for the terminal."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kpitree.compute.snapshot import NodeResult, Snapshot
from kpitree.display import change, display_of, number, pair
from kpitree.render.snapshot_data import depths
from kpitree.tree import tree_calendar


def snapshot_table(snapshot: Snapshot) -> RenderableType:
    tree = snapshot.tree
    calendar = tree_calendar(tree)
    heading = f"{tree.title}: {calendar.label(snapshot.period)}"
    if snapshot.segment:
        heading += "  where " + ", ".join(f"{k}={'|'.join(map(str, v))}" for k, v in snapshot.segment.values.items())
    table = Table(title=heading, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("node", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    compare_label = ""
    if snapshot.comparison is not None:
        compare_label = (
            calendar.label(snapshot.compare_window.period) if snapshot.compare_window else snapshot.comparison.value
        )
        table.add_column(compare_label, justify="right", no_wrap=True)
        table.add_column("delta", justify="right", no_wrap=True)
    table.add_column("per", justify="right", no_wrap=True)
    table.add_column("unit", no_wrap=True)
    table.add_column("status")
    level = depths(tree)
    for r in snapshot.results:
        name = Text("  " * level.get(r.node.id, 0) + r.node.title)
        display = display_of(r.node)
        value, compare = pair(r.compare.value if r.compare else None, r.current.value, display)[::-1]
        row: list[RenderableType] = [name, value]
        if snapshot.comparison is not None:
            row += [compare, change(r.delta, display)]
        per = number(r.per.value) if r.per and r.per.value is not None else ""
        row += [per, r.node.unit, _status(r)]
        table.add_row(*row)
    parts: list[RenderableType] = [table]
    dividers = sorted({r.node.per for r in snapshot.results if r.node.per})
    if dividers:
        titles = ", ".join(snapshot.tree.nodes[d].title.lower() for d in dividers if d in snapshot.tree.nodes)
        parts.append(Text(f"per: the value divided by {titles} (a shared denominator)", style="dim"))
    for node_id, summary in snapshot.scores.items():
        shares = ", ".join(f"{band} {share:.0%}" for band, share in summary.band_shares.items())
        parts.append(Text(f"{node_id}: {summary.contacts:,} contacts; {shares}"))
        for roll_up in summary.roll_ups:
            rolled = ", ".join(f"{band} {share:.0%}" for band, share in roll_up.band_shares.items())
            parts.append(Text(f"  by {roll_up.entity}: {roll_up.count:,}; {rolled}"))
    parts += [Text(f"warning: {w}", style="yellow") for w in snapshot.warnings]
    return Group(*parts)


def _status(r: NodeResult) -> str:
    parts = []
    if r.current.reason:
        parts.append(r.current.reason)
    if r.score_band:
        parts.append(r.score_band)
    if r.target and r.target.status != "within":
        parts.append(f"{r.target.status} target")
    if r.benchmark:
        parts.append(f"{r.benchmark.status} {r.benchmark.name}")
    return "; ".join(parts)
