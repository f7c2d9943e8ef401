"""``kpitree demo``: the main job end to end on the embedded default.

Generates the sample warehouse (DuckDB) in ``.kpitree/demo/``, computes both shipped trees for the
sample's last month (and last week) against the period before, records the runs in the demo's
state database, proves every parent = f(children) on the data, and writes the attributed variance
report of each tree (HTML and Markdown) to ``.kpitree/demo/reports/``. Before the runs it registers
and judges the sample's two interventions (one worked, one did not); after them it back-tests the
engagement score against the sample's outcomes (``reports/calibration_<node>.html``). Each tree is one pipeline
run (:func:`kpitree.pipeline.run_tree`): its alerts go through the outbox to files in
``.kpitree/demo/outbox/`` (.eml for email, .json for Slack), as a dry run of real delivery.
"""

from __future__ import annotations

from pathlib import Path

import click

from kpitree.analysis.variance import TREND_PERIODS, VarianceReport
from kpitree.cli.demo_impact import demo_calibration, demo_interventions
from kpitree.cli.output import console
from kpitree.compute.check import check_computation
from kpitree.delivery.file import FileChannel
from kpitree.errors import InternalError
from kpitree.impact.describe import summaries
from kpitree.periods import Grain, Period
from kpitree.pipeline import outcome_lines, run_tree
from kpitree.render.snapshot_output import snapshot_table
from kpitree.report.drill_render import drill_sentence
from kpitree.report.render import report_html, report_markdown
from kpitree.report.rows import headline
from kpitree.resources import shipped_trees_dir
from kpitree.sample import SampleSpec, write_sample
from kpitree.spec.issues import TreeInvalid
from kpitree.state.store import StateStore
from kpitree.tree import MetricTree, tree_calendar
from kpitree.tree_files import load_tree, tree_files
from kpitree.warehouse import open_warehouse

DEMO_DIR = Path(".kpitree") / "demo"


@click.command()
@click.option(
    "--dir",
    "demo_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEMO_DIR,
    show_default=True,
    help="Where the demo's warehouse and state database go.",
)
@click.option("--size", type=click.IntRange(min=1000), default=SampleSpec.activities, show_default=True)
def demo(demo_dir: Path, size: int) -> None:
    """Run kpitree end to end on a sample warehouse with its shipped example trees."""
    out = console()
    spec = SampleSpec(activities=size)
    warehouse = open_warehouse(f"duckdb:///{demo_dir / 'warehouse.duckdb'}", writable=True)
    counts = write_sample(spec, warehouse)
    out.print(
        f"Sample warehouse {warehouse.display_url}: " + ", ".join(f"{rows:,} {table}" for table, rows in counts.items())
    )
    store = StateStore.open(f"sqlite:///{demo_dir / 'state.db'}")
    outbox = demo_dir / "outbox"
    channels = {"email": FileChannel("email", outbox), "slack": FileChannel("slack", outbox)}
    reports: list[Path] = []
    try:
        trees = []
        for path in tree_files((shipped_trees_dir(),)):
            result = load_tree(path)
            if result.tree is None:
                raise TreeInvalid(result.issues)
            trees.append(result.tree)
        out.print()
        for line in demo_interventions(trees, spec, warehouse, store):
            out.print(line, highlight=False, markup=False)
        for tree in trees:
            period = _last_full_period(tree, spec)
            # One run: the computation (the period, the one before, and the trend's) serves the
            # snapshot, the attributed report, the alert rules and the consistency check; alerts go
            # through the outbox to files in the demo's outbox directory.
            outcome = run_tree(tree, period, warehouse, store, channels=channels, trend_periods=TREND_PERIODS)
            report = outcome.report
            out.print()
            out.print(snapshot_table(report.snapshot))
            if report.computation is None:
                raise InternalError("report.computation is missing")
            check = check_computation(report.computation, 1e-9)
            checked = sum(1 for c in check.checks if c.holds is not None)
            verdict = "all hold" if check.ok else f"{len(check.failures)} FAIL (run kpitree check)"
            out.print(f"consistency: {checked} parent = f(children) identities checked, {verdict}")
            out.print(headline(report))
            for line in where_moved_lines(report):
                out.print(line, highlight=False, markup=False)
            for line in outcome_lines(outcome):
                out.print(line, highlight=False, markup=False)
            interventions = summaries(store.engine, tree)
            for suffix, render in (("html", report_html), ("md", report_markdown)):
                written = demo_dir / "reports" / f"{tree.id}.{suffix}"
                written.parent.mkdir(parents=True, exist_ok=True)
                written.write_text(render(report, interventions), encoding="utf-8")
                reports.append(written)
        out.print()
        for line in demo_calibration(trees, spec, warehouse, demo_dir / "reports"):
            out.print(line, highlight=False, markup=False)
    finally:
        warehouse.dispose()
    out.print()
    out.print("Attributed variance reports: " + ", ".join(str(path) for path in reports))
    out.print(f"Alerts delivered as files (.eml for email, .json for Slack) to {outbox}")
    state_url = f"sqlite:///{demo_dir / 'state.db'}"
    out.print(f"Runs recorded in {demo_dir / 'state.db'}. Try: kpitree alerts outbox --state-db {state_url}")
    out.print("  or: kpitree compute activity_volume_per_contact")
    out.print(f"  --period {spec.end} --warehouse duckdb:///{demo_dir / 'warehouse.duckdb'} --where segment=SMB")
    out.print("  or: kpitree drill activity_volume_per_contact call_touches")
    out.print(
        f"  --period {spec.end} --warehouse duckdb:///{demo_dir / 'warehouse.duckdb'} --by segment,motion,team,region"
    )


def where_moved_lines(report: VarianceReport) -> list[str]:
    """The drill of each node on the largest-gap path, one sentence each (the report has the table)."""
    calendar = tree_calendar(report.tree)
    compare = report.snapshot.compare_window
    periods = (
        "" if compare is None else f"from {calendar.label(compare.period)} to {calendar.label(report.snapshot.period)}"
    )
    return [
        f"where it moved: {drill_sentence(report.tree, node_id, drill, periods)}"
        for node_id, drill in report.drills.items()
    ]


def _last_full_period(tree: MetricTree, spec: SampleSpec) -> Period:
    """The tree's last period that the sample covers completely."""
    calendar = tree_calendar(tree)
    _covered, last_month = spec.months()
    period = calendar.period_containing(last_month.last_day, Grain(tree.grain))
    return period if period.end <= last_month.end else calendar.previous(period)
