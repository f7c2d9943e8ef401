"""Commands that read the warehouse: compute and check."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from kpitree.cli.options import TREES_DIR_OPTION, period_option, state_option, warehouse_option
from kpitree.cli.plain import echo
from kpitree.compute.batch import SegmentFilter
from kpitree.compute.snapshot import take_snapshot
from kpitree.periods import Comparison, Grain, Period
from kpitree.render.snapshot_data import snapshot_csv, snapshot_json
from kpitree.resources import resolve_tree
from kpitree.tree import MetricTree, tree_calendar
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import open_warehouse


def resolve_period(tree: MetricTree, text: str | None, now: datetime | None = None) -> Period:
    calendar = tree_calendar(tree)
    if text:
        return calendar.parse(text)
    current = calendar.period_at(now or datetime.now(UTC), Grain(tree.grain))
    return calendar.previous(current)


def load(tree_name: str, trees_dir: Path | None) -> MetricTree:
    return load_tree_or_raise(resolve_tree(tree_name, trees_dir))


@click.command()
@click.argument("tree_name", metavar="TREE")
@period_option
@click.option(
    "--compare",
    type=click.Choice([c.value for c in Comparison]),
    default="previous",
    show_default=True,
    help="Compare with the previous period, the same period last year, or each node's target.",
)
@click.option("--no-compare", is_flag=True, help="Compute the period alone.")
@click.option("--where", "where", multiple=True, metavar="DIM=VALUE", help="Compute for one segment; repeatable.")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]), default="table")
@click.option("--show-sql", is_flag=True, help="Print the SQL that ran (to stderr with --format json/csv).")
@click.option("--no-save", is_flag=True, help="Do not record the values in the state database.")
@warehouse_option
@state_option
@TREES_DIR_OPTION
def compute(
    tree_name: str,
    period: str | None,
    compare: str,
    no_compare: bool,
    where: tuple[str, ...],
    output_format: str,
    show_sql: bool,
    no_save: bool,
    warehouse: str | None,
    state_db: str | None,
    trees_dir: Path | None,
) -> None:
    """Compute every node of TREE for one period, in the warehouse, beside a comparison.

    TREE is a tree id (looked up in the trees directory) or a path to a tree file. Values that
    cannot be computed (a division by zero, a missing input) are shown empty with the reason.
    Each run is recorded in the state database; re-running a period replaces its values.
    """
    metric_tree = load(tree_name, trees_dir)
    chosen = resolve_period(metric_tree, period)
    segment = SegmentFilter.parse(where, metric_tree)
    opened = open_warehouse(warehouse)
    try:
        snapshot = take_snapshot(metric_tree, chosen, opened, None if no_compare else Comparison(compare), segment)
    finally:
        opened.dispose()
    if not no_save:
        from kpitree.state.store import StateStore  # alembic is slow to import: only when saving

        StateStore.open(state_db).record_snapshot(snapshot)
    if show_sql:
        for statement in snapshot.statements:
            echo(statement + ";\n", err=output_format != "table")
    if output_format == "json":
        echo(json.dumps(snapshot_json(snapshot), indent=2))
    elif output_format == "csv":
        echo(snapshot_csv(snapshot), nl=False)
    else:
        from kpitree.cli.output import console
        from kpitree.render.snapshot_output import snapshot_table  # rich: only for the terminal

        console().print(snapshot_table(snapshot))


@click.command()
@click.argument("tree_name", metavar="TREE")
@click.option("--period", "periods", multiple=True, metavar="PERIOD", help="Period to check; repeatable.")
@click.option("--last", type=click.IntRange(min=1), default=None, help="Check the last N closed periods.")
@click.option("--where", "where", multiple=True, metavar="DIM=VALUE", help="Check one segment; repeatable.")
@click.option("--tolerance", type=float, default=1e-6, show_default=True, help="Relative tolerance.")
@warehouse_option
@TREES_DIR_OPTION
def check(
    tree_name: str,
    periods: tuple[str, ...],
    last: int | None,
    where: tuple[str, ...],
    tolerance: float,
    warehouse: str | None,
    trees_dir: Path | None,
) -> None:
    """Prove parent = f(children) on the real data for every node of TREE.

    Split measures must equal the sum of their branches (and so must the branches' per-contact
    values), engagement types must add up to their score, formulas must equal their inputs'
    result. Exits 1 and lists the nodes when any does not hold.
    """
    from kpitree.compute.check import check_tree
    from kpitree.render.check_output import check_table

    metric_tree = load(tree_name, trees_dir)
    calendar = tree_calendar(metric_tree)
    chosen = [calendar.parse(p) for p in periods]
    if last or not chosen:
        latest = resolve_period(metric_tree, None)
        chosen += [calendar.shift(latest, -i) for i in reversed(range(last or 1))]
    opened = open_warehouse(warehouse)
    try:
        report = check_tree(metric_tree, chosen, opened, SegmentFilter.parse(where, metric_tree), tolerance)
    finally:
        opened.dispose()
    from kpitree.cli.output import console

    console().print(check_table(report))
    if not report.ok:
        raise SystemExit(1)
