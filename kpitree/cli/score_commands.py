"""``kpitree score-change``: why an engagement score moved, by engagement type, new activity versus ageing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kpitree.cli.compute_commands import load, resolve_period
from kpitree.cli.options import TREES_DIR_OPTION, period_option, warehouse_option
from kpitree.cli.plain import echo
from kpitree.cli.report_commands import WHERE_OPTION
from kpitree.errors import InternalError, UsageError
from kpitree.periods import Comparison
from kpitree.spec.suggest import did_you_mean
from kpitree.tree import MetricTree, Node, NodeKind

if TYPE_CHECKING:  # the command imports the compute stack only when it runs (see cli/main.py)
    from kpitree.analysis.score_change import ScoreChange


@click.command("score-change")
@click.argument("tree_name", metavar="TREE")
@click.option("--node", "node_id", metavar="SCORE", help="The score node (default: the tree's only one).")
@period_option
@click.option(
    "--compare",
    type=click.Choice([Comparison.PREVIOUS.value, Comparison.YOY.value]),
    default="previous",
    show_default=True,
    help="The earlier period whose end the change starts from.",
)
@click.option("--contact", metavar="ID", help="One contact's score (the score's entity column).")
@click.option("--account", metavar="ID", help="One account's score (the score's first roll-up).")
@WHERE_OPTION
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@warehouse_option
@TREES_DIR_OPTION
def score_change(
    tree_name: str,
    node_id: str | None,
    period: str | None,
    compare: str,
    contact: str | None,
    account: str | None,
    where: tuple[str, ...],
    output_format: str,
    warehouse: str | None,
    trees_dir: Path | None,
) -> None:
    """Why an engagement score moved: new activity versus ageing, by engagement type.

    The change between the earlier period's end and this period's is split into new activity
    (signals since the earlier period) and ageing (older signals decaying or leaving the lookback
    window), for the population, one contact or one account. A score that slid only because time
    passed says so.
    """
    from kpitree.analysis.score_change import score_change as split
    from kpitree.compute.batch import SegmentFilter, windows
    from kpitree.compute.score_states import ScoreSubject
    from kpitree.report.report_json import score_change_json
    from kpitree.tree import tree_calendar
    from kpitree.warehouse import open_warehouse

    tree = load(tree_name, trees_dir)
    node = _score_node(tree, node_id)
    calendar = tree_calendar(tree)
    chosen = resolve_period(tree, period)
    earlier = calendar.compare_period(chosen, Comparison(compare))
    if earlier is None:
        raise InternalError("earlier is missing (previous and yoy always have one)")
    current, before = windows(calendar, [chosen, earlier])
    subject = ScoreSubject.of(node, contact, account)
    segment = SegmentFilter.parse(where, tree)
    opened = open_warehouse(warehouse)
    try:
        change = split(tree, node, current, before, opened, segment, subject)
    finally:
        opened.dispose()
    labels = (calendar.label(chosen), calendar.label(earlier))
    if change.before.score is None and change.after.score is None and subject.column is not None:
        raise UsageError(
            f"{change.subject} has no weighted signal in the lookback window at the end of {labels[1]} or {labels[0]}",
            hint=f"check the id; 'kpitree compute {tree.id} --period {labels[0]}' shows how many are scored",
        )
    if output_format == "json":
        data = {"tree": tree.id, "node": node.id, "period": labels[0], "compare_period": labels[1]}
        echo(json.dumps({**data, **score_change_json(change)}, indent=2))
        return
    echo(_as_text(tree, node, change, labels), nl=False)


def _score_node(tree: MetricTree, node_id: str | None) -> Node:
    scores = [n for n in tree.nodes.values() if n.kind is NodeKind.SCORE]
    if node_id is not None:
        if node_id not in tree.nodes or tree.nodes[node_id].kind is not NodeKind.SCORE:
            raise UsageError(
                f"{node_id!r} is not a score node of tree {tree.id!r}",
                hint=did_you_mean(node_id, [n.id for n in scores], "score nodes: " + ", ".join(n.id for n in scores)),
            )
        return tree.nodes[node_id]
    if len(scores) != 1:
        raise UsageError(
            f"tree {tree.id!r} has {len(scores) or 'no'} score nodes",
            hint="name one with --node" if scores else "score-change explains engagement-score trees",
        )
    return scores[0]


def _as_text(tree: MetricTree, node: Node, change: ScoreChange, labels: tuple[str, str]) -> str:
    from kpitree.display import number
    from kpitree.report.rows import score_split_sentence, signed

    lines = [
        f"{node.title}, {change.subject}: {labels[0]} against {labels[1]}",
        f"  {number(change.before.score)} -> {number(change.after.score)} {node.unit} "
        f"(as if nothing new had happened: {number(change.aged.score)})",
        score_split_sentence(change, node.unit),
        "",
    ]
    width = max(len(tree.node(t.type_id).title) for t in change.types)
    lines.append(f"  {'engagement type':<{width}}  {'change':>9}  {'ageing':>9}  {'new activity':>12}")
    for part in change.types:
        title = tree.node(part.type_id).title
        lines.append(
            f"  {title:<{width}}  {signed(part.delta) or '0':>9}  {signed(part.ageing) or '0':>9}  "
            f"{signed(part.new_activity) or '0':>12}"
        )
    if change.before.score is None or change.after.score is None:
        lines += ["", "(-: no weighted signal in the lookback window then; counted as 0 in the split)"]
    return "\n".join(lines) + "\n"
