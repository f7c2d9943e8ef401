"""Per-entity band crossings on the seed's engagement score: contacts and accounts sliding a band
are routed to the owner of the engagement type that fell for them (the account's CSM, read from
the warehouse, for human interactions; marketing for email), one message per owner listing them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from freezegun import freeze_time

from kpitree.delivery.file import FileChannel
from kpitree.delivery.outbox import list_outbox
from kpitree.pipeline import run_tree
from kpitree.state.store import StateStore
from kpitree.tree import tree_calendar
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import Warehouse, open_warehouse
from tests.alerting_world import loopback_channels
from tests.conftest import TREES
from tests.engines import land
from tests.loopback import MailHandler, free_port, smtp_server
from tests.staging import staging
from tests.test_alert_pipeline import parsed, parts

# Signals on Sunday 1 November: a week old at the end of 2026-W45 (full points), two weeks and a
# half at the end of W46 (halved, with the seed's 14-day step decay).
SIGNALS = [
    # contact, account, signal type, how many
    ("con-a", "acc-1", "meeting_attended", 6),  # 60 Engaged -> 30 At risk: human interactions fell
    ("con-b", "acc-1", "meeting_attended", 6),
    ("con-c", "acc-2", "email_open", 55),  # 55 Engaged -> 27.5 At risk: email and content fell
]
NEW_CONTACT = ("con-d", "acc-3", "login", 4)  # first seen in W46: 20 points, no crossing
ACCOUNTS = [("acc-1", "csm.one@example.com"), ("acc-2", "csm.two@example.com"), ("acc-3", "csm.one@example.com")]


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    connection = staging("signals", "accounts")
    for index, (contact, account, kind, count) in enumerate([*SIGNALS, NEW_CONTACT]):
        day = "2026-11-12" if contact == NEW_CONTACT[0] else "2026-11-01"
        connection.execute(
            f"""INSERT INTO signals SELECT 's{index}-' || i, ?, ?, ?, TIMESTAMPTZ '{day} 12:00:00+00', NULL
                FROM range(?) t(i)""",
            [contact, account, kind, count],
        )
    for account, csm in ACCOUNTS:
        connection.execute("INSERT INTO accounts VALUES (?, ?, 'SMB', 'outbound', ?)", [account, account, csm])
    opened = open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}", writable=True)
    land(connection, opened, "signals", "accounts")
    yield opened
    opened.dispose()


def test_crossings_are_grouped_per_owner_and_routed_by_the_type_that_fell(warehouse: Warehouse, tmp_path: Path) -> None:
    tree = load_tree_or_raise(TREES / "contact_engagement_score.yaml")
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    port = free_port()
    channels = {**loopback_channels(port), "slack": FileChannel("slack", tmp_path / "slack")}
    with smtp_server(port, MailHandler()) as server, freeze_time(datetime(2026, 11, 16, 6, tzinfo=UTC)):
        outcome = run_tree(tree, tree_calendar(tree).parse("2026-W46"), warehouse, store, channels=channels)
    crossings = {(e.rule_id, e.entity) for e in outcome.events if e.entity}
    assert crossings == {
        ("contact_slide", "con-a"),
        ("contact_slide", "con-b"),
        ("contact_slide", "con-c"),
        ("account_slide", "acc-1"),
        ("account_slide", "acc-2"),
    }
    emails = {str(parsed(m)["To"]): parsed(m) for m in server.received}
    # One email to the CSM of acc-1 for both of its contacts and the account, the CSM read from
    # the warehouse; one to marketing for con-c and acc-2, with their accountable lead in copy.
    csm_text, csm_html = parts(emails["csm.one@example.com"])
    for entity in ("con-a", "con-b", "acc-1"):
        assert entity in csm_text
        assert entity in csm_html
    assert "con-c" not in csm_text
    assert "Engaged (60) -> At risk (30)" in csm_text
    assert "Human interactions fell most" in csm_text
    # Named as resolved for this entity, not as "each entity's csm_email", nor as the Accountable.
    assert "Responsible: csm.one@example.com; Accountable: Amara Mensah" in csm_text
    marketing = emails["marketing@example.com"]
    assert marketing["Cc"] == "jonas.weber@example.com"
    marketing_text, _ = parts(marketing)
    assert "con-c" in marketing_text
    assert "Email and content fell most" in marketing_text
    assert "con-a" not in marketing_text
    assert "csm.two@example.com" not in emails  # acc-2's contact fell in email, which marketing owns
    # The population's drop has its largest gap in human interactions, owned per account: no one
    # address, so the fallback receiver gets it, flagged.
    assert "cs-ops@example.com" in emails
    fallback_text, _ = parts(emails["cs-ops@example.com"])
    assert "mean_score_drop" in fallback_text
    assert "FLAGGED: entity:csm_email has no value" in fallback_text
    assert "Responsible: each entity's csm_email; Accountable: Amara Mensah" in fallback_text
    rows = [r for r in list_outbox(store.engine) if r.recipient == "cs-ops@example.com" and r.channel == "email"]
    assert [r.fallback for r in rows] == [True]
