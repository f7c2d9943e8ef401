"""``kpitree calibrate``: back-test a tree's engagement score against outcomes."""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from kpitree.cli.compute_commands import load
from kpitree.cli.options import TREES_DIR_OPTION, DurationType, warehouse_option
from kpitree.cli.plain import echo
from kpitree.durations import DAYS_TO_MONTHS, Duration
from kpitree.errors import UsageError
from kpitree.tree import MetricTree, Node, NodeKind


def _score_node(tree: MetricTree, node_id: str | None) -> Node:
    scores = [n for n in tree.nodes.values() if n.kind is NodeKind.SCORE]
    if node_id is not None:
        chosen = [n for n in scores if n.id == node_id]
        if not chosen:
            raise UsageError(
                f"{node_id!r} is not a score node of {tree.id}", hint=f"scores: {', '.join(n.id for n in scores)}"
            )
        return chosen[0]
    if not scores:
        raise UsageError(f"tree {tree.id!r} has no engagement score to calibrate")
    return scores[0]


@click.command()
@click.argument("tree_name", metavar="TREE")
@click.option(
    "--outcomes",
    "outcomes_source",
    required=True,
    metavar="TABLE_OR_FILE",
    help="A warehouse table, or a .csv/.parquet file: contact_id or account_id, outcome, decided_at.",
)
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    required=True,
    help="Freeze the scores at the start of this day (tree timezone): only signals before it count.",
)
@click.option(
    "--horizon",
    type=DurationType(DAYS_TO_MONTHS),
    default="90d",
    show_default=True,
    help="Outcomes decided within this long after --as-of: days, weeks or calendar months (90d, 12w, 3mo).",
)
@click.option("--node", "node_id", default=None, help="The score node [default: the tree's first].")
@click.option("--good", default=None, metavar="A,B", help="Outcome values that are good [default: renewed, won, ...].")
@click.option("--bad", default=None, metavar="A,B", help="Outcome values that are bad [default: churned, lost, ...].")
@click.option("--half-lives", default="7,14,21,30,45,60,90", show_default=True, help="Half-lives (days) to try.")
@click.option(
    "--miss-cost",
    type=float,
    default=5.0,
    show_default=True,
    help="For the cost-based cut-off: a missed churner costs this many needless plays.",
)
@click.option("--healthy-band", default=None, help="The lowest healthy band, whose lower edge is calibrated.")
@click.option("--format", "output_format", type=click.Choice(["text", "md", "html"]), default="text")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--write", is_flag=True, help="Write the suggested weights, half-life and band edge into the tree file.")
@warehouse_option
@TREES_DIR_OPTION
def calibrate(
    tree_name: str,
    outcomes_source: str,
    as_of: datetime,
    horizon: Duration,
    node_id: str | None,
    good: str | None,
    bad: str | None,
    half_lives: str,
    miss_cost: float,
    healthy_band: str | None,
    output_format: str,
    output: Path | None,
    write: bool,
    warehouse: str | None,
    trees_dir: Path | None,
) -> None:
    """Back-test TREE's engagement score against outcomes decided after --as-of.

    Reports the score's AUC, the good-outcome rate per band (and whether it rises band by band),
    cut-offs by Youden's J and by cost, weights from a logistic regression on the decayed signal
    counts, the best half-life of a grid, and a validation on the next window. See docs/calibration.md.
    """
    from kpitree.calibrate.backtest import CalibrationRequest
    from kpitree.calibrate.backtest import calibrate as run_calibration
    from kpitree.calibrate.outcomes import BAD_OUTCOMES, GOOD_OUTCOMES, read_outcomes
    from kpitree.calibrate.render import calibration_html, calibration_lines, calibration_markdown
    from kpitree.calibrate.write import write_calibration
    from kpitree.warehouse import open_warehouse

    tree = load(tree_name, trees_dir)
    node = _score_node(tree, node_id)
    try:
        grid = tuple(float(h) for h in half_lives.split(",") if h.strip())
    except ValueError:
        raise UsageError(f"--half-lives {half_lives!r} is not a list of days", hint="e.g. 7,14,30") from None
    instant = datetime.combine(as_of.date(), time(), tzinfo=ZoneInfo(tree.timezone))
    request = CalibrationRequest(instant, horizon.after(instant) - instant, grid, miss_cost, healthy_band)
    source = open_warehouse(warehouse)
    try:
        outcomes = read_outcomes(
            outcomes_source,
            source,
            tree.timezone,
            good.split(",") if good else GOOD_OUTCOMES,
            bad.split(",") if bad else BAD_OUTCOMES,
        )
        result = run_calibration(tree, node, outcomes, request, source)
    finally:
        source.dispose()
    if outcomes.rejected:
        echo(f"{outcomes.rejected} outcome rows could not be used:", err=True)
        for reason in outcomes.reasons:
            echo(f"  {reason}", err=True)
    if output_format == "html":
        text = calibration_html(result)
    elif output_format == "md":
        text = calibration_markdown(result)
    else:
        text = "\n".join(calibration_lines(result)) + "\n"
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        echo(f"wrote {output}", err=True)
    else:
        echo(text, nl=False)
    if write:
        changes = write_calibration(
            tree.path, node.id, result.suggested_weights, result.best_half_life, result.suggested_bands
        )
        echo(f"{tree.path}: " + ("; ".join(changes) if changes else "already calibrated, nothing changed"))
