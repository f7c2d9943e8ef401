"""A message about many entities summarises them: how many crossed into which band and by which
engagement type, the twenty that fell most one by one, and the whole list as a CSV, attached
while the email stays under 200 KB and otherwise named where the run writes it."""

from __future__ import annotations

import csv
import io
import json
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from kpitree.alert.messages import (
    LISTED,
    MAX_MESSAGE_BYTES,
    MessagePlan,
    Notice,
    build_messages,
    digest_messages,
)
from kpitree.alert.routing import Recipient, Role, Route
from kpitree.alert.templates import AlertTemplates, template_dir
from kpitree.alert.views import AlertView, sample_view
from kpitree.delivery.channels import Outgoing
from kpitree.delivery.file import FileChannel
from kpitree.tree import MetricTree, Owners
from kpitree.tree_files import load_tree_or_raise
from tests.conftest import TREES

BANDS = ["At risk", "Dormant"]
TYPES = ["Product usage", "Human interactions", "Email and content"]


def crossing_views(tree: MetricTree, count: int) -> list[AlertView]:
    base = sample_view(tree)
    views = []
    for i in range(count):
        drop = (i * 7919) % 1000 / 10  # distinct drops in a scrambled order
        crossing = {
            **base["crossing"],
            "entity": f"con-{i}",
            "band_after": BANDS[i % 2],
            "fell_most": TYPES[i % 3],
            "drop": drop,
            "score_before": f"{50 + drop:.0f}",
        }
        views.append({**base, "entity": f"con-{i}", "crossing": crossing})
    return views


def notices(views: list[AlertView], recipients: tuple[Recipient, ...]) -> list[Notice]:
    route = Route("contact_engagement_score", Owners(), recipients, (), (), {})
    return [Notice(i + 1, f"fp{i}", "firing", view, route) for i, view in enumerate(views)]


CSM = Recipient("email", "csm@example.com", "entity:csm_email=csm@example.com", "CSM", Role.TO)
SLACK = Recipient("slack", "#cs-ops", "cs_ops", "CS ops", Role.TO)
DIGEST = Recipient("email", "lead@example.com", "leadership", "Leadership", Role.DIGEST)


def as_email(row_text: str, html: str | None, attachment: tuple[str, str] | None, tmp_path: Path) -> EmailMessage:
    """The email as the file channel writes it."""
    outgoing = Outgoing(
        "email", ("csm@example.com",), "s", row_text, html, message_id="<m@kpitree>", attachment=attachment
    )
    sent = FileChannel("email", tmp_path).send(outgoing)
    data = Path(sent.where).read_bytes()
    assert len(data) <= MAX_MESSAGE_BYTES, f"{len(data):,} bytes written"
    parsed = message_from_bytes(data, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.mark.parametrize("count", [3, LISTED + 1, 400, 12000])
def test_a_message_lists_twenty_and_summarises_the_rest(count: int, tmp_path: Path) -> None:
    tree = load_tree_or_raise(TREES / "contact_engagement_score.yaml")
    templates = AlertTemplates(template_dir(tree))
    plan = MessagePlan(tree, "2026-W43", "run-1", "kpitree report contact_engagement_score --period 2026-W43")
    views = crossing_views(tree, count)
    told = notices(views, (CSM, SLACK, DIGEST))
    messages = build_messages(plan, told, templates) + digest_messages(plan, told, templates)
    assert {(m.channel, m.role) for m in messages} == {("email", "to"), ("slack", "to"), ("email", "digest")}
    fell_most = sorted(views, key=lambda v: (-v["crossing"]["drop"], v["entity"]))[: min(count, LISTED)]
    for message in messages:
        body = message.body_text
        listed = [v["entity"] for v in views if f" / contact {v['entity']}\n" in body]
        if message.channel == "slack":
            blocks = json.dumps(message.slack_blocks)
            listed = [v["entity"] for v in views if f"contact {v['entity']}\\n" in blocks]
            assert len(blocks.encode()) < 40_000  # Block Kit: 50 blocks of at most 3,000 characters
            assert len(message.slack_blocks or ()) <= 50
        assert sorted(listed) == sorted(v["entity"] for v in fell_most), message.channel
        if count > LISTED:
            text = body if message.channel == "email" else json.dumps(message.slack_blocks)
            assert f"{count} contact alerts" in text
            for band in BANDS:
                assert f"{sum(1 for v in views if v['crossing']['band_after'] == band)} into {band}" in text or (
                    message.channel == "slack"
                )
            assert str(count) in message.subject
        if message.channel != "email":
            continue
        email = as_email(message.body_text, message.body_html, _attachment(message), tmp_path)
        small = message.attachment is not None
        if count > LISTED:
            assert ("in the attached CSV" in body) == small
            assert ("contact_engagement_score/2026-W43-entities.csv beside the run's report" in body) == (not small)
        if small:
            rows = list(csv.DictReader(io.StringIO(message.attachment or "")))
            assert [r["entity"] for r in rows] == [
                v["entity"] for v in sorted(views, key=lambda v: (-v["crossing"]["drop"], v["entity"]))
            ]
            attached = list(email.iter_attachments())
            assert [part.get_filename() for part in attached] == ["2026-W43-entities.csv"]
    # At 400 a CSV still fits in 200 KB beside the message; at 12,000 it cannot.
    emails = [m for m in messages if m.channel == "email"]
    assert all((m.attachment is not None) == (count <= 400) for m in emails)


def _attachment(message: object) -> tuple[str, str] | None:
    name, text = getattr(message, "attachment_name", None), getattr(message, "attachment", None)
    return (name, text) if name and text else None


def test_a_warehouse_value_that_looks_like_a_formula_is_not_one_in_the_csv() -> None:
    tree = load_tree_or_raise(TREES / "contact_engagement_score.yaml")
    from kpitree.alert.entity_list import EntityRows

    view = sample_view(tree)
    hostile = {**view, "entity": '=HYPERLINK("http://x")', "crossing": {**view["crossing"], "drop": 1.0}}
    rows = list(csv.DictReader(io.StringIO(EntityRows().csv([hostile]))))
    assert rows[0]["entity"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["moved_by"] == "-15.0"  # a negative number stays a number
