"""From the run's notified alerts to outbox messages: grouped, rendered, keyed.

Grouping, per run and channel:

- **Email**: the alerts whose Responsible recipients are the same go in one email, To them, with
  the Accountable owners of those alerts in Cc. With one Responsible owner per branch (the usual
  case) that is one email per owner per run, however many of their branches or entities fired.
- **Slack**: one post per recipient (a member or a channel) per run, listing every alert they are
  Responsible or Accountable for; Slack has no Cc.
- **Digest**: Informed owners get one message per channel listing the alerts they are informed
  of: per run, or once a day (``alerting.digest: daily``), merged across the day's runs.

Every row has an idempotency key from the run, the channel, the address, the role and the
alerts told, so writing the same run twice adds nothing; an email's rows share a Message-ID.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kpitree.alert.entity_list import EntityRows, crossing_order
from kpitree.alert.queue import NewMessage, idempotency_key
from kpitree.alert.routing import Recipient, Role, Route
from kpitree.alert.templates import AlertTemplates, RenderedMessage
from kpitree.alert.views import AlertView, sample_view
from kpitree.tree import MetricTree

LISTED = 20  # entity crossings a message lists one by one; the rest are summarised and in its CSV
MAX_MESSAGE_BYTES = 200 * 1024  # a message with its attachment; past it the CSV is not attached
ENCODED_SLACK = 4096  # bytes of headers and MIME boundaries an email adds to its parts


@dataclass(frozen=True)
class Notice:
    """An alert event to be told, and who to tell."""

    event_id: int
    fingerprint: str
    kind: str
    view: AlertView
    route: Route

    @property
    def token(self) -> str:
        return f"{self.fingerprint}:{self.kind}"


@dataclass(frozen=True)
class MessagePlan:
    """Where the messages of one run go and what they tell, before rendering."""

    tree: MetricTree
    period: str
    run_key: str
    report_command: str
    # The run's crossings' CSV rows, made once for all of its messages and its file.
    entity_rows: EntityRows = field(default_factory=EntityRows, compare=False, repr=False)


def message_context(
    plan: MessagePlan, names: Sequence[str], role: Role, views: Sequence[AlertView], attached: bool = True
) -> dict[str, Any]:
    """The variables every alert template gets (see docs/alerts.md). ``alerts`` lists every alert
    on a node and at most :data:`LISTED` entity crossings (those whose score fell most);
    ``entities`` summarises all of the message's crossings, which its CSV lists."""
    listed, entities = summarise(views)
    if entities is not None:
        entities["file"] = entity_file_name(plan.tree.id, plan.period)
        entities["attached"] = attached
    return {
        "tree": {"id": plan.tree.id, "title": plan.tree.title},
        "period": plan.period,
        "recipient": {"name": " and ".join(dict.fromkeys(names)) or "team", "role": role.value},
        "digest": role is Role.DIGEST,
        "alerts": listed,
        "entities": entities,
        "report_command": plan.report_command,
    }


def summarise(views: Sequence[AlertView]) -> tuple[list[AlertView], dict[str, Any] | None]:
    """The alerts a message lists, and the summary of its entity crossings (None when it has none).

    A person reads twenty entities, not eleven thousand: past :data:`LISTED` the message says how
    many crossed into which band and by which engagement type, and lists those that fell most."""
    crossings = [v for v in views if v.get("crossing")]
    if not crossings:
        return list(views), None
    ranked = sorted(crossings, key=crossing_order)
    shown = {id(v) for v in ranked[:LISTED]}
    listed = [v for v in views if not v.get("crossing") or id(v) in shown]
    summary = {
        "total": len(crossings),
        "listed": min(len(crossings), LISTED),
        "unlisted": max(0, len(crossings) - LISTED),
        "by_band": _counts(v["crossing"]["band_after"] for v in crossings),
        "by_type": _counts(v["crossing"]["fell_most"] or "none fell" for v in crossings),
        "by_kind": _counts(v["crossing"]["kind"] for v in crossings),
    }
    return listed, summary


def _counts(values: Iterable[str]) -> list[dict[str, Any]]:
    """[{name, count}], most first: templates loop over it in order."""
    counted = Counter(values)
    return [{"name": name, "count": count} for name, count in sorted(counted.items(), key=lambda i: (-i[1], i[0]))]


def entity_file_name(tree_id: str, period: str) -> str:
    """Where the run writes every entity alert it told: beside the run's report (see docs/alerts.md)."""
    return f"{tree_id}/{period}-entities.csv"


def sample_contexts(tree: MetricTree) -> list[dict[str, Any]]:
    """Contexts exercising every branch of the shipped templates: each role, with and without an
    entity crossing. Templates are checked on them when a tree loads."""
    plan = MessagePlan(tree, "2026-10", "sample", f"kpitree report {tree.id}")
    with_crossing = sample_view(tree)
    without = {**with_crossing, "crossing": None, "entity": "", "flags": ["sample flag: no email address"]}
    many = [
        {**with_crossing, "entity": f"sample-{i}", "crossing": {**with_crossing["crossing"], "drop": float(i)}}
        for i in range(LISTED + 2)
    ]  # more than a message lists: the summary
    return [
        message_context(plan, ["Sample Owner"], role, views, attached)
        for role in Role
        for views in ([with_crossing], [without, with_crossing], [without, *many])
        for attached in (True, False)
    ]


def build_messages(plan: MessagePlan, notices: Sequence[Notice], templates: AlertTemplates) -> list[NewMessage]:
    """The run's messages to its Responsible and Accountable recipients (digests are separate)."""
    messages: list[NewMessage] = []
    messages += _emails(plan, notices, templates)
    messages += _slack_posts(plan, notices, templates)
    return messages


@dataclass(frozen=True)
class EarlierDigest:
    """A daily digest already queued today, which this run's digest replaces and extends."""

    event_ids: tuple[int, ...]
    views: tuple[AlertView, ...]


def digest_key(plan: MessagePlan, day: str, channel: str, address: str) -> str:
    return idempotency_key("digest", plan.tree.id, day, channel, address)


def digest_messages(
    plan: MessagePlan,
    notices: Sequence[Notice],
    templates: AlertTemplates,
    day: str | None = None,
    earlier: Mapping[str, EarlierDigest] | None = None,
) -> list[NewMessage]:
    """One digest per Informed recipient and channel, listing the alerts they are informed of.

    With ``day`` (``alerting.digest: daily``) the digest is keyed by the day instead of the run,
    and lists the ``earlier`` digest's alerts too: the caller replaces that pending row with it.
    """
    by_recipient: dict[tuple[str, str], list[Notice]] = defaultdict(list)
    who: dict[tuple[str, str], Recipient] = {}
    for notice in notices:
        for recipient in notice.route.for_role(Role.DIGEST):
            key = (recipient.channel, recipient.address)
            by_recipient[key].append(notice)
            who[key] = recipient
    messages = []
    for (channel, address), told in by_recipient.items():
        recipient = who[(channel, address)]
        message_key = _key(plan, channel, address, Role.DIGEST, told)
        before = EarlierDigest((), ())
        if day is not None:
            message_key = digest_key(plan, day, channel, address)
            before = (earlier or {}).get(message_key, before)
        views = [*before.views, *(n.view for n in told)]
        rendered, attachment = render_message(plan, templates, [recipient.name], Role.DIGEST, views, channel)
        row_key = idempotency_key(message_key, *map(str, before.event_ids), *sorted(n.token for n in told))
        message = _message(plan, row_key, message_key, recipient, rendered, told, channel, attachment)
        messages.append(replace(message, event_ids=(*before.event_ids, *message.event_ids)))
    return messages


def _emails(plan: MessagePlan, notices: Sequence[Notice], templates: AlertTemplates) -> list[NewMessage]:
    groups: dict[tuple[str, ...], list[Notice]] = defaultdict(list)
    for notice in notices:
        to = tuple(sorted({r.address for r in notice.route.for_role(Role.TO) if r.channel == "email"}))
        cc = {r.address for r in notice.route.for_role(Role.CC) if r.channel == "email"}
        if to or cc:
            groups[to].append(notice)
    messages = []
    for to, told in groups.items():
        recipients = {r.address: r for n in told for r in n.route.recipients if r.channel == "email"}
        to_rows = [recipients[a] for a in to]
        cc_rows = sorted(
            {
                r.address: r
                for n in told
                for r in n.route.for_role(Role.CC)
                if r.channel == "email" and r.address not in to
            }.values(),
            key=lambda r: r.address,
        )
        lead = to_rows or cc_rows
        views = [n.view for n in told]
        rendered, attachment = render_message(plan, templates, [r.name for r in lead], lead[0].role, views, "email")
        message_key = idempotency_key(
            plan.run_key, "email", *to, *(r.address for r in cc_rows), *sorted(n.token for n in told)
        )
        for recipient in [*to_rows, *cc_rows]:
            key = _key(plan, "email", recipient.address, recipient.role, told)
            messages.append(_message(plan, key, message_key, recipient, rendered, told, "email", attachment))
    return messages


def _slack_posts(plan: MessagePlan, notices: Sequence[Notice], templates: AlertTemplates) -> list[NewMessage]:
    by_address: dict[str, list[Notice]] = defaultdict(list)
    listed: set[tuple[str, int]] = set()  # (address, event): linear, however many entities crossed
    who: dict[str, Recipient] = {}
    for notice in notices:
        for recipient in notice.route.recipients:
            if recipient.channel == "slack" and recipient.role in (Role.TO, Role.CC):
                if (recipient.address, notice.event_id) not in listed:
                    listed.add((recipient.address, notice.event_id))
                    by_address[recipient.address].append(notice)
                if recipient.address not in who or recipient.role is Role.TO:
                    who[recipient.address] = recipient
    messages = []
    for address, told in by_address.items():
        recipient = who[address]
        views = [n.view for n in told]
        rendered, _none = render_message(plan, templates, [recipient.name], recipient.role, views, "slack")
        key = _key(plan, "slack", address, recipient.role, told)
        messages.append(_message(plan, key, key, recipient, rendered, told, "slack"))
    return messages


def _key(plan: MessagePlan, channel: str, address: str, role: Role, told: Sequence[Notice]) -> str:
    return idempotency_key(plan.run_key, channel, address, role.value, *sorted(n.token for n in told))


def _message(
    plan: MessagePlan,
    key: str,
    message_key: str,
    recipient: Recipient,
    rendered: RenderedMessage,
    told: Sequence[Notice],
    channel: str,
    attachment: tuple[str, str] | None = None,
) -> NewMessage:
    message = outbox_message(
        plan.tree.id, plan.run_key, key, message_key, recipient, rendered, channel, tuple(n.event_id for n in told)
    )
    if attachment is None:
        return message
    return replace(message, attachment_name=attachment[0], attachment=attachment[1])


def render_message(
    plan: MessagePlan,
    templates: AlertTemplates,
    names: Sequence[str],
    role: Role,
    views: Sequence[AlertView],
    channel: str,
) -> tuple[RenderedMessage, tuple[str, str] | None]:
    """The message, and the CSV of its entities when it is an email that stays under
    :data:`MAX_MESSAGE_BYTES` with it attached; otherwise the message names the run's file."""
    crossed = channel == "email" and any(v.get("crossing") for v in views)
    listed = plan.entity_rows.csv(views) if crossed else None
    # As sent: base64 makes the CSV a third larger (and breaks its lines); the bodies' transfer
    # encoding and the headers add a little, which ENCODED_SLACK leaves room for. A CSV too large
    # on its own is not rendered for: the message is rendered once, naming the run's file.
    if listed is not None and (attachment := len(listed.encode()) * 1.37 + ENCODED_SLACK) <= MAX_MESSAGE_BYTES:
        rendered = templates.render(message_context(plan, names, role, views, attached=True))
        if rendered.size * 1.1 + attachment <= MAX_MESSAGE_BYTES:
            return rendered, (f"{plan.period}-entities.csv", listed)
    return templates.render(message_context(plan, names, role, views, attached=False)), None


def outbox_message(
    tree_id: str,
    run_key: str,
    key: str,
    message_key: str,
    recipient: Recipient,
    rendered: RenderedMessage,
    channel: str,
    event_ids: tuple[int, ...] = (),
) -> NewMessage:
    """One outbox row for ``recipient``: an email (text, HTML and a Message-ID shared by the rows
    of one ``message_key``) or a Slack post (blocks and their fallback text)."""
    email = channel == "email"
    return NewMessage(
        idempotency_key=key,
        message_key=message_key,
        tree_id=tree_id,
        run_key=run_key,
        event_ids=event_ids,
        channel=channel,
        recipient=recipient.address,
        owner=recipient.owner,
        role=recipient.role.value,
        subject=rendered.subject,
        body_text=rendered.text if email else rendered.slack_text,
        body_html=rendered.html if email else None,
        slack_blocks=None if email else rendered.blocks,
        message_id=f"<{hashlib.sha256(message_key.encode()).hexdigest()[:40]}@kpitree>" if email else None,
        fallback=recipient.is_fallback,
    )
