"""``kpitree impact``: register interventions, list them, evaluate them once their window has passed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click

from kpitree.cli.alert_commands import delivery_channels, delivery_options
from kpitree.cli.compute_commands import load
from kpitree.cli.options import TREES_DIR_OPTION, DurationType, state_option, warehouse_option
from kpitree.cli.plain import echo
from kpitree.durations import WEEKS_OR_MONTHS, Duration
from kpitree.errors import UsageError


@click.group()
def impact() -> None:
    """Verified impact: did a change really move its node? (see docs/impact.md)"""


@impact.command("add")
@click.argument("tree_name", metavar="TREE")
@click.argument("node_id", metavar="NODE")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), required=True, help="When the change took effect.")
@click.option("--expect", type=click.Choice(["up", "down"]), required=True, help="Which way it should move NODE.")
@click.option("--size", default=None, metavar="X", help="Expected effect, relative: 20% or 0.2.")
@click.option(
    "--window",
    type=DurationType(WEEKS_OR_MONTHS),
    default="8w",
    show_default=True,
    help="How long after the start to judge it, in weeks or months: 8w, 3mo.",
)
@click.option("--owner", required=True, metavar="ID", help="The person or team of the tree told the verdict.")
@click.option("--note", default="", help="What was changed, in words.")
@click.option("--segment", multiple=True, metavar="DIM=VALUE", help="Where the change was made; repeatable.")
@click.option("--control", multiple=True, metavar="DIM=VALUE", help="A comparable segment left alone; repeatable.")
@state_option
@TREES_DIR_OPTION
def add(
    tree_name: str,
    node_id: str,
    start: datetime,
    expect: str,
    size: str | None,
    window: Duration,
    owner: str,
    note: str,
    segment: tuple[str, ...],
    control: tuple[str, ...],
    state_db: str | None,
    trees_dir: Path | None,
) -> None:
    """Register a change made to move NODE of TREE, before judging it.

    The window, the expected direction and size and the segments are fixed now; a later change is
    allowed with 'kpitree impact edit' and shown beside the verdict.
    """
    from kpitree.compute.batch import SegmentFilter
    from kpitree.impact.describe import registration_line
    from kpitree.impact.registry import Window, parse_size, register
    from kpitree.state.store import StateStore

    tree = load(tree_name, trees_dir)
    registered = register(
        StateStore.open(state_db).engine,
        tree,
        node_id=node_id,
        start=start.date(),
        expect=expect,
        window=Window.of(window),
        owner=owner,
        note=note,
        size=parse_size(size) if size else None,
        segment=SegmentFilter.parse(segment, tree),
        control=SegmentFilter.parse(control, tree),
        now=datetime.now(UTC),
    )
    echo("registered " + registration_line(registered, tree))
    before, after = registered.periods(tree)
    echo(
        f"pre-period {before[0].start} to {before[-1].last_day}; window {after[0].start} to {after[-1].last_day}; "
        f"evaluate from {registered.window_end(tree)}"
    )


@impact.command("list")
@click.option("--tree", "tree_id", default=None, metavar="TREE")
@state_option
def list_command(tree_id: str | None, state_db: str | None) -> None:
    """List interventions with their latest verdict."""
    from kpitree.impact.describe import registration_line
    from kpitree.impact.registry import latest_evaluations, list_interventions
    from kpitree.state.store import StateStore

    engine = StateStore.open(state_db).engine
    registered = list_interventions(engine, tree_id)
    if not registered:
        echo("no interventions registered" + (f" for {tree_id}" if tree_id else ""))
        return
    latest = latest_evaluations(engine, [i.id for i in registered])
    for i in registered:
        echo(registration_line(i))
        evaluation = latest.get(i.id)
        if evaluation is None:
            echo("    not evaluated yet")
        else:
            echo(f"    {evaluation.verdict.upper()} on {evaluation.evaluated_at:%Y-%m-%d}: {evaluation.reason}")
        for line in i.edits_after_registration:
            echo(f"    edited: {line}")


@impact.command("edit")
@click.argument("intervention_id", metavar="ID", type=int)
@click.option("--window", default=None, metavar="DURATION", help="A new window, in weeks or months: 8w, 3mo.")
@click.option("--size", default=None, help="A new expected size: 20%.")
@click.option("--owner", default=None, metavar="ID")
@click.option("--note", default=None)
@click.option("--reason", required=True, help="Why: kept with the change and shown beside the verdict.")
@state_option
@TREES_DIR_OPTION
def edit_command(
    intervention_id: int,
    window: str | None,
    size: str | None,
    owner: str | None,
    note: str | None,
    reason: str,
    state_db: str | None,
    trees_dir: Path | None,
) -> None:
    """Change a registered intervention; every change is recorded."""
    from kpitree.impact.registry import edit, load_intervention
    from kpitree.state.store import StateStore

    changes = {k: v for k, v in {"window": window, "size": size, "owner": owner, "note": note}.items() if v}
    if not changes:
        raise UsageError("nothing to change", hint="give --window, --size, --owner or --note")
    engine = StateStore.open(state_db).engine
    tree = load(load_intervention(engine, intervention_id).tree_id, trees_dir)
    recorded = edit(engine, intervention_id, changes, reason, tree, datetime.now(UTC))
    for change in recorded:
        echo(f"#{intervention_id} {change.field_name}: {change.old_value or '(none)'} -> {change.new_value}")
    if not recorded:
        echo("nothing changed")


@impact.command("evaluate")
@click.argument("intervention_id", metavar="[ID]", type=int, required=False)
@click.option("--tree", "tree_id", default=None, metavar="TREE", help="Only this tree's interventions.")
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Judge as of this day [default: today].")
@click.option("--no-notify", is_flag=True, help="Record the verdicts; tell nobody.")
@click.option("--no-deliver", is_flag=True, help="Queue the messages in the outbox; leave sending to 'alerts deliver'.")
@delivery_options
@warehouse_option
@state_option
@TREES_DIR_OPTION
def evaluate_command(
    intervention_id: int | None,
    tree_id: str | None,
    today: datetime | None,
    no_notify: bool,
    no_deliver: bool,
    secrets: Path | None,
    outbox_dir: Path | None,
    files_only: bool,
    warehouse: str | None,
    state_db: str | None,
    trees_dir: Path | None,
) -> None:
    """Evaluate intervention ID, or every one whose window has passed and that has no verdict yet.

    The verdict is recorded and, when new or changed, told to the intervention's owner.
    """
    from kpitree.delivery.worker import deliver_due
    from kpitree.impact.describe import evaluation_lines, registration_line
    from kpitree.impact.loop import evaluate_and_tell, pending_interventions
    from kpitree.impact.registry import list_interventions, load_intervention
    from kpitree.state.store import StateStore
    from kpitree.warehouse import open_warehouse

    engine = StateStore.open(state_db).engine
    day = today.date() if today else date.today()
    now = datetime.now(UTC)
    if intervention_id is not None:
        chosen = [load_intervention(engine, intervention_id)]
    else:
        trees = {i.tree_id for i in list_interventions(engine, tree_id)}
        chosen = [i for t in sorted(trees) for i in pending_interventions(engine, load(t, trees_dir), day)]
        if not chosen:
            echo("no intervention is due and unevaluated" + (f" for {tree_id}" if tree_id else ""))
            return
    source = open_warehouse(warehouse)
    queued = 0
    try:
        for intervention in chosen:
            tree = load(intervention.tree_id, trees_dir)
            outcome = evaluate_and_tell(engine, tree, intervention, source, day, now, notify=not no_notify)
            queued += outcome.queued
            echo(registration_line(intervention, tree))
            for line in evaluation_lines(outcome.evaluation):
                echo("    " + line)
    finally:
        source.dispose()
    if queued and not no_deliver:
        tally = deliver_due(engine, delivery_channels(secrets, outbox_dir, files_only))
        echo(f"verdicts to owners: {tally.sent} sent, {tally.retrying} to retry later, {tally.dead} dead")
    elif queued:
        echo(f"verdicts to owners: {queued} queued in the outbox")
