"""``kpitree drill``: which segments moved a node, across any columns of its source."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kpitree.cli.compute_commands import load, resolve_period
from kpitree.cli.options import TREES_DIR_OPTION, period_option, warehouse_option
from kpitree.cli.plain import echo
from kpitree.errors import UsageError


def _dimensions(text: str | None) -> tuple[str, ...]:
    return tuple(d.strip() for d in (text or "").split(",") if d.strip())


@click.command()
@click.argument("tree_name", metavar="TREE")
@click.argument("node_id", metavar="NODE")
@period_option
@click.option(
    "--compare",
    type=click.Choice(["previous", "yoy"]),
    default="previous",
    show_default=True,
    help="Compare with the previous period or the same period last year.",
)
@click.option("--by", "by", metavar="DIM[,DIM...]", default=None, help="Columns to cut by [default: the tree's drill].")
@click.option("--depth", type=click.IntRange(1, 3), default=2, show_default=True, help="Columns combined at most.")
@click.option(
    "--min-rows",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Segments with fewer source rows in both periods are summed into one '(other)' per set of columns.",
)
@click.option("--format", "output_format", type=click.Choice(["text", "json", "md"]), default="text")
@click.option("--show-sql", is_flag=True, help="Print the SQL that ran (to stderr with --format json/md).")
@warehouse_option
@TREES_DIR_OPTION
def drill(
    tree_name: str,
    node_id: str,
    period: str | None,
    compare: str,
    by: str | None,
    depth: int,
    min_rows: int,
    output_format: str,
    show_sql: bool,
    warehouse: str | None,
    trees_dir: Path | None,
) -> None:
    """Cut NODE's movement by segment, over every column in --by and their combinations.

    One warehouse statement per source (GROUP BY GROUPING SETS) gives each segment's value in both
    periods; each gets its exact contribution to the movement (a ratio's split into the segment's
    own rate and its mix). Then a few segments that do not overlap and together explain most of
    the movement, largest first. docs/attribution.md gives the method.
    """
    from kpitree.analysis.drill_run import drill_periods
    from kpitree.compute.drill import drillable_dimensions
    from kpitree.periods import Comparison
    from kpitree.report.drill_render import drill_json, drill_markdown, drill_text
    from kpitree.warehouse import open_warehouse

    metric_tree = load(tree_name, trees_dir)
    if node_id not in metric_tree.nodes:
        known = ", ".join(metric_tree.nodes)
        raise UsageError(f"tree {metric_tree.id!r} has no node {node_id!r}", hint=f"its nodes: {known}")
    dimensions = _dimensions(by)
    if not dimensions:  # the tree's drill columns, those the node's sources have
        dimensions = drillable_dimensions(metric_tree, metric_tree.node(node_id), metric_tree.drill) or ()
    chosen = resolve_period(metric_tree, period)
    opened = open_warehouse(warehouse)
    try:
        run = drill_periods(
            metric_tree, {node_id: dimensions}, chosen, Comparison(compare), opened, depth=depth, min_rows=min_rows
        )
    finally:
        opened.dispose()
    if show_sql:
        for statement in run.statements:
            echo(statement + ";\n", err=output_format != "text")
    if output_format == "json":
        echo(json.dumps(drill_json(run, node_id, depth), indent=2))
    elif output_format == "md":
        echo(drill_markdown(run, node_id), nl=False)
    else:
        echo(drill_text(run, node_id), nl=False)
