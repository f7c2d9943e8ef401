"""``kpitree run`` (the pipeline by hand) and ``kpitree alerts``: routing, test sends, the outbox."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from kpitree.cli.compute_commands import load, resolve_period
from kpitree.cli.options import TREES_DIR_OPTION, period_option, reports_dir_option, state_option, warehouse_option
from kpitree.cli.plain import echo
from kpitree.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


def delivery_options(command: F) -> F:
    @click.option(
        "--secrets",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="TOML file with SMTP and Slack credentials [default: $KPITREE_SECRETS; see docs/alerts.md].",
    )
    @click.option(
        "--outbox-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Where channels without credentials write messages [default: .kpitree/outbox].",
    )
    @click.option("--files-only", is_flag=True, help="Write every message to the outbox directory; send nothing.")
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def delivery_channels(secrets: Path | None, outbox_dir: Path | None, files_only: bool) -> dict[str, Any]:
    """The channels the --secrets, --outbox-dir and --files-only options ask for (run, alerts, schedule)."""
    from kpitree.delivery.settings import DeliverySettings
    from kpitree.delivery.setup import open_channels

    return dict(open_channels(DeliverySettings.load(secrets, outbox_dir=outbox_dir), files_only))


@click.command()
@click.argument("tree_name", metavar="TREE")
@period_option
@click.option("--where", "where", multiple=True, metavar="DIM=VALUE", help="Run for one segment; repeatable.")
@click.option("--no-deliver", is_flag=True, help="Queue the messages in the outbox; leave sending to 'alerts deliver'.")
@reports_dir_option("the CSV of the entity alerts it told (<tree>/<period>-entities.csv)")
@delivery_options
@warehouse_option
@state_option
@TREES_DIR_OPTION
def run(
    tree_name: str,
    period: str | None,
    where: tuple[str, ...],
    no_deliver: bool,
    reports_dir: Path,
    secrets: Path | None,
    outbox_dir: Path | None,
    files_only: bool,
    warehouse: str | None,
    state_db: str | None,
    trees_dir: Path | None,
) -> None:
    """Run TREE's pipeline once: compute, attribute, evaluate its alert rules, commit, deliver.

    The period's values, the alerts' states and events, and the messages are committed in one
    transaction; then the outbox is delivered. Running the same period again sends nothing new.
    Standard error shows each stage as it goes: a tree's first run computes every period its slide
    and anomaly rules read (later runs read them from the state database), and says how many.
    """
    from kpitree.cli.progress import Shown
    from kpitree.compute.batch import SegmentFilter
    from kpitree.pipeline import outcome_lines, run_tree, write_entity_list
    from kpitree.state.store import StateStore
    from kpitree.warehouse import open_warehouse

    tree = load(tree_name, trees_dir)
    chosen = resolve_period(tree, period)
    segment = SegmentFilter.parse(where, tree)
    store = StateStore.open(state_db)
    channels = None if no_deliver else delivery_channels(secrets, outbox_dir, files_only)
    opened = open_warehouse(warehouse)
    try:
        with Shown("kpitree run") as progress:
            outcome = run_tree(tree, chosen, opened, store, segment=segment, channels=channels, progress=progress)
    finally:
        opened.dispose()
    for line in outcome_lines(outcome):
        echo(line)
    written = write_entity_list(outcome, tree, reports_dir)
    if written is not None:
        echo(f"entity alerts: {written}")


@click.group()
def alerts() -> None:
    """Alert routing, test sends and the delivery outbox."""


@alerts.command("route-test")
@click.argument("tree_name", metavar="TREE")
@click.argument("node_id", metavar="NODE")
@click.option(
    "--period",
    default=None,
    metavar="PERIOD",
    help="Compute this period and route to the largest-gap branch under NODE (needs the warehouse).",
)
@click.option(
    "--entity",
    "entity_values",
    multiple=True,
    metavar="COLUMN=VALUE",
    help="Pretend the alert is about an entity with this column value (resolves entity:COLUMN owners).",
)
@warehouse_option
@TREES_DIR_OPTION
def route_test(
    tree_name: str,
    node_id: str,
    period: str | None,
    entity_values: tuple[str, ...],
    warehouse: str | None,
    trees_dir: Path | None,
) -> None:
    """Print who would get an alert on NODE of TREE, on which channel and in which role; sends nothing."""
    from kpitree.alert.routing import largest_gap_target, route

    tree = load(tree_name, trees_dir)
    if node_id not in tree.nodes:
        raise UsageError(f"tree {tree.id!r} has no node {node_id!r}", hint="see: kpitree tree show " + tree.id)
    values = dict(_pair(text) for text in entity_values)
    branch, segment = node_id, None
    if period is not None:
        from kpitree.analysis.variance import build_report
        from kpitree.periods import Comparison
        from kpitree.warehouse import open_warehouse

        opened = open_warehouse(warehouse)
        try:
            report = build_report(tree, resolve_period(tree, period), opened, Comparison.PREVIOUS, trend_periods=1)
        finally:
            opened.dispose()
        branch, segment = largest_gap_target(tree, report.attribution, node_id)
    rules = ", ".join(rule.id for rule in tree.node(node_id).alerts) or "none"
    echo(f"{tree.id} / {tree.node(node_id).title} (rules: {rules})")
    if branch != node_id:
        echo(f"largest-gap branch under it: {tree.node(branch).title} ({branch})")
    routed = route(tree, branch, None, values, segment)
    of_segment = f", {tree.node(branch).segment_by}={segment}" if segment is not None else ""
    echo(f"routed to the owners of {tree.node(branch).title}{of_segment}:")
    for recipient in routed.recipients:
        fallback = f"  [fallback for {recipient.fallback_for}]" if recipient.fallback_for else ""
        echo(f"  {recipient.role.value:<6} {recipient.channel:<5} {recipient.address:<34} {recipient.name}{fallback}")
    if routed.consulted:
        echo("  named as consulted: " + ", ".join(routed.consulted))
    for flag in routed.flags:
        echo(f"  flagged: {flag}")


def _pair(text: str) -> tuple[str, str]:
    column, sep, value = text.partition("=")
    if not sep or not column:
        raise UsageError(f"--entity {text!r} is not COLUMN=VALUE", hint="e.g. --entity csm_email=ana@example.com")
    return column.strip(), value.strip()


@alerts.command("test-send")
@click.argument("tree_name", metavar="TREE")
@click.option("--channel", type=click.Choice(["email", "slack", "file"]), required=True)
@click.option("--to", "to", required=True, metavar="ADDRESS", help="Email address, Slack member or channel.")
@delivery_options
@TREES_DIR_OPTION
def test_send(
    tree_name: str,
    channel: str,
    to: str,
    secrets: Path | None,
    outbox_dir: Path | None,
    files_only: bool,
    trees_dir: Path | None,
) -> None:
    """Send one sample alert, rendered with TREE's templates, straight through a channel."""
    from kpitree.addresses import email_problem, slack_target_problem
    from kpitree.alert.messages import sample_contexts
    from kpitree.alert.templates import AlertTemplates, template_dir
    from kpitree.delivery.channels import DeliveryFailure, Outgoing, redact

    problem = slack_target_problem(to) if channel == "slack" else email_problem(to)
    if problem:
        raise UsageError(
            f"--to {to!r} cannot be used: {problem}", hint="give one email address, '#channel' or a Slack id"
        )
    tree = load(tree_name, trees_dir)
    rendered = AlertTemplates(template_dir(tree)).render(sample_contexts(tree)[0])
    channels = delivery_channels(secrets, outbox_dir, files_only or channel == "file")
    medium = "email" if channel in ("email", "file") else "slack"
    email = medium == "email"
    outgoing = Outgoing(
        channel=medium,
        recipients=(to,),
        subject=rendered.subject,
        text=rendered.text if email else rendered.slack_text,
        html=rendered.html if email else None,
        message_id=f"<test-{datetime.now(UTC):%Y%m%d%H%M%S%f}@kpitree>" if email else None,
        blocks=None if email else rendered.blocks,
    )
    try:
        sent = channels[medium].send(outgoing)
    except DeliveryFailure as failure:
        kind = "transient, worth retrying" if failure.recoverable else "permanent"
        reason = redact(failure.reason, channels[medium].secrets)
        raise UsageError(f"the {medium} test send failed ({kind}): {reason}") from None
    refused = ", ".join(f"{who}: {why.reason}" for who, why in sent.refused.items())
    echo(f"sent a sample {medium} alert to {to}" + (f" via {sent.where}" if sent.where else ""))
    if refused:
        raise UsageError(f"refused: {refused}")


@alerts.command("outbox")
@click.option("--status", type=click.Choice(["pending", "sending", "sent", "dead"]), default=None)
@click.option("--tree", "tree_id", default=None, metavar="TREE")
@state_option
def outbox(status: str | None, tree_id: str | None, state_db: str | None) -> None:
    """List outbox messages: pending, sent and dead (with the reason)."""
    from kpitree.delivery.outbox import list_outbox
    from kpitree.state.store import StateStore

    rows = list_outbox(StateStore.open(state_db).engine, status, tree_id)
    if not rows:
        echo("the outbox is empty" + (f" (status {status})" if status else ""))
        return
    echo(f"{'id':>5} {'status':<8} {'channel':<6} {'role':<6} {'tries':>5}  recipient / subject")
    for row in rows:
        flag = " [fallback]" if row.fallback else ""
        echo(f"{row.id:>5} {row.status:<8} {row.channel:<6} {row.role:<6} {row.attempts:>5}  {row.recipient}{flag}")
        echo(f"{'':>34}{row.subject[:90]}")
        if row.status == "pending" and row.attempts:
            echo(f"{'':>34}next attempt {row.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC")
        if row.last_error:
            echo(f"{'':>34}last error: {row.last_error}")


@alerts.command("retry")
@click.argument("row_id", metavar="ID", type=int)
@state_option
def retry(row_id: int, state_db: str | None) -> None:
    """Put outbox row ID back in the queue (a dead letter, once its cause is fixed)."""
    from kpitree.delivery.outbox import requeue
    from kpitree.state.store import StateStore

    row = requeue(StateStore.open(state_db).engine, row_id, datetime.now(UTC))
    echo(f"outbox row {row.id} ({row.channel} to {row.recipient}) is pending again")


@alerts.command("deliver")
@delivery_options
@state_option
def deliver(secrets: Path | None, outbox_dir: Path | None, files_only: bool, state_db: str | None) -> None:
    """Send every outbox message that is due; failures wait for their next attempt."""
    from kpitree.delivery.worker import deliver_due
    from kpitree.state.store import StateStore

    tally = deliver_due(StateStore.open(state_db).engine, delivery_channels(secrets, outbox_dir, files_only))
    echo(f"{tally.sent} sent, {tally.retrying} to retry later, {tally.dead} dead")
