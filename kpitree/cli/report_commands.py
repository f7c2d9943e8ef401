"""Commands that explain movements: the attributed variance report, and one node's story."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from kpitree.analysis.variance import TREND_PERIODS, VarianceReport, build_report
from kpitree.cli.compute_commands import load, resolve_period
from kpitree.cli.options import TREES_DIR_OPTION, period_option, state_option, warehouse_option
from kpitree.cli.plain import echo
from kpitree.cli.progress import Shown
from kpitree.compute.batch import SegmentFilter
from kpitree.periods import Comparison
from kpitree.progress import SILENT, Progress
from kpitree.tree import MetricTree, tree_calendar
from kpitree.warehouse import open_warehouse

if TYPE_CHECKING:
    from kpitree.impact.describe import InterventionSummary
    from kpitree.state.store import StateStore

COMPARE_OPTION = click.option(
    "--compare",
    type=click.Choice([c.value for c in Comparison]),
    default="previous",
    show_default=True,
    help="Explain the movement against the previous period, the same period last year, or the targets.",
)
WHERE_OPTION = click.option(
    "--where", "where", multiple=True, metavar="DIM=VALUE", help="Explain one segment; repeatable."
)


def _build(
    tree_name: str,
    period: str | None,
    compare: str,
    where: tuple[str, ...],
    warehouse: str | None,
    trees_dir: Path | None,
    trend: int,
    store: StateStore | None = None,
    progress: Progress = SILENT,
) -> VarianceReport:
    """With ``store``, the trend shows the values stored for this tree file (by runs, computes and
    earlier reports) rather than computing those periods again."""
    metric_tree = load(tree_name, trees_dir)
    chosen = resolve_period(metric_tree, period)
    segment = SegmentFilter.parse(where, metric_tree)
    recorded = {}
    if store is not None and trend > 1:
        calendar = tree_calendar(metric_tree)
        past = [calendar.shift(chosen, -steps) for steps in range(1, trend)]
        recorded = store.recorded(metric_tree, past, segment.key())
    opened = open_warehouse(warehouse)
    try:
        return build_report(
            metric_tree, chosen, opened, Comparison(compare), segment, trend, recorded=recorded, progress=progress
        )
    finally:
        opened.dispose()


@click.command()
@click.argument("tree_name", metavar="TREE")
@period_option
@COMPARE_OPTION
@WHERE_OPTION
@click.option(
    "--format", "output_format", type=click.Choice(["md", "html", "json", "csv"]), default="md", show_default=True
)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
@click.option(
    "--trend",
    type=click.IntRange(min=0),
    default=TREND_PERIODS,
    show_default=True,
    help="Periods in each node's trend sparkline (0: none).",
)
@click.option(
    "--recompute-trend",
    is_flag=True,
    help="Compute every trend period in the warehouse, not the values stored earlier for this tree file.",
)
@click.option(
    "--no-save",
    is_flag=True,
    help="Do not keep the periods computed for the report in the state database.",
)
@warehouse_option
@state_option
@TREES_DIR_OPTION
def report(
    tree_name: str,
    period: str | None,
    compare: str,
    where: tuple[str, ...],
    output_format: str,
    output: Path | None,
    trend: int,
    recompute_trend: bool,
    no_save: bool,
    warehouse: str | None,
    state_db: str | None,
    trees_dir: Path | None,
) -> None:
    """The attributed variance report of TREE for one period.

    Every node's value, comparison and change; its contribution to its parent's change and to the
    KPI's; its band status and owners. The largest-gap path (the chain of branches that moved the
    KPI most the bad way) comes first and names its owners. HTML is one self-contained page with
    the tree as a picture and a trend sparkline per node; Markdown has a Mermaid diagram. Both list
    the tree's interventions from the state database with their verdicts, marked on the trends.

    A trend period stored for this very tree file (by kpitree compute, run or an earlier report)
    shows the stored values, and the report says how many do; --recompute-trend computes them all.
    The periods the report computed, once ended, are kept in the state database when there is one
    (a report never creates it), so the next report reads them; --no-save leaves it untouched.
    Standard error shows each stage as it goes, with how many periods it computes and how many it
    read instead (nothing with --format json).
    """
    from kpitree.report.render import report_csv, report_html, report_markdown
    from kpitree.report.report_json import report_json

    store = _existing_store(state_db)
    with Shown("kpitree report", json=output_format == "json") as progress:
        built = _build(
            tree_name, period, compare, where, warehouse, trees_dir, trend, None if recompute_trend else store, progress
        )
        if store is not None and not no_save and built.computation is not None:
            progress.stage("keeping the computed periods")
            store.keep(built.computation, datetime.now(UTC))
        progress.stage(f"writing {output_format}")
        interventions = _interventions(built.tree, store) if output_format in ("html", "md") else []
        if output_format == "json":
            text = json.dumps(report_json(built), indent=2) + "\n"
        elif output_format == "html":
            text = report_html(built, interventions)
        elif output_format == "csv":
            text = report_csv(built)
        else:
            text = report_markdown(built, interventions)
    if output is None:
        echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    echo(f"wrote {output}", err=True)


@click.command()
@click.argument("tree_name", metavar="TREE")
@click.argument("node_id", metavar="NODE")
@period_option
@COMPARE_OPTION
@WHERE_OPTION
@warehouse_option
@TREES_DIR_OPTION
def explain(
    tree_name: str,
    node_id: str,
    period: str | None,
    compare: str,
    where: tuple[str, ...],
    warehouse: str | None,
    trees_dir: Path | None,
) -> None:
    """Tell the story of NODE's movement in TREE: how much, why (its children), and who owns it."""
    from kpitree.report.story import explain as story

    echo(story(_build(tree_name, period, compare, where, warehouse, trees_dir, 0), node_id), nl=False)


def _existing_store(state_db: str | None) -> StateStore | None:
    """The state database, if there is one; a report never creates one."""
    import sqlalchemy as sa

    from kpitree.state.store import StateStore, state_url

    url = sa.make_url(state_url(state_db or None))
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return None
    return StateStore.open(url.render_as_string(hide_password=False))


def _interventions(tree: MetricTree, store: StateStore | None) -> list[InterventionSummary]:
    """The tree's interventions, if there is a state database."""
    from kpitree.impact.describe import summaries

    return summaries(store.engine, tree) if store is not None else []
