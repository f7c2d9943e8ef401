"""The shipped seed trees are complete, valid, and say what the seed documents say."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpitree.tree import MetricTree, NodeKind
from kpitree.tree_files import load_tree, load_tree_or_raise
from tests.conftest import SEED_TREES, TREES


@pytest.mark.parametrize("path", SEED_TREES, ids=lambda p: p.stem)
def test_seed_tree_validates_clean(path: Path) -> None:
    result = load_tree(path)
    assert result.issues == ()
    assert result.tree is not None


def test_both_seed_trees_are_shipped() -> None:
    assert {p.stem for p in SEED_TREES} == {"activity_volume_per_contact", "contact_engagement_score"}


@pytest.fixture(scope="module")
def activity() -> MetricTree:
    return load_tree_or_raise(TREES / "activity_volume_per_contact.yaml")


@pytest.fixture(scope="module")
def engagement() -> MetricTree:
    return load_tree_or_raise(TREES / "contact_engagement_score.yaml")


def test_activity_tree_excludes_notes_system_events_and_duplicate_syncs(activity: MetricTree) -> None:
    source = activity.sources["activities"]
    assert {c: (f.op, f.value) for c, f in source.where.items()} == {"kind": ("eq", "touch")}
    assert source.dedupe == ["source_system", "external_id"]


def test_activity_tree_root_is_activities_over_active_contacts(activity: MetricTree) -> None:
    root = activity.node(activity.root)
    assert root.formula_text == "qualifying_activities / active_contacts"
    contacts = activity.node("active_contacts")
    assert contacts.measure is not None
    assert (contacts.measure.agg, contacts.measure.column) == ("count_distinct", "contact_id")


def test_activity_tree_has_the_capacity_branch(activity: MetricTree) -> None:
    capacity = activity.node("qualifying_activities")
    assert capacity.children == ("reps_active", "selling_hours_per_rep", "touches_per_selling_hour")


def test_activity_tree_splits_channels_over_the_shared_denominator(activity: MetricTree) -> None:
    touches = activity.node("logged_touches")
    assert touches.split_by == "channel"
    assert touches.per == "active_contacts"
    assert touches.children == ("email_touches", "call_touches", "meeting_touches", "other_touches")
    assert all(activity.node(child).per == "active_contacts" for child in touches.children)
    other = activity.node("other_touches").restrictions[-1]
    assert other.excluded == ("email", "call", "meeting")


def test_activity_tree_keeps_manual_and_automated_emails_apart(activity: MetricTree) -> None:
    email = activity.node("email_touches")
    assert email.split_by == "is_automated"
    automated = activity.node("automated_email_touches").restrictions
    assert [(r.column, r.values) for r in automated] == [("channel", ("email",)), ("is_automated", (True,))]


def test_activity_tree_carries_the_seed_benchmarks(activity: MetricTree) -> None:
    bands = {b.name: (b.low, b.high) for b in activity.node(activity.root).benchmarks}
    assert bands == {
        "High-volume SMB outbound": (6, 10),
        "Mid-market outbound": (8, 14),
        "Enterprise pursuit": (12, None),
        "Inbound follow-up": (3, 6),
    }


def test_every_activity_branch_has_an_accountable_and_a_responsible(activity: MetricTree) -> None:
    for node in activity.nodes.values():
        assert node.owners.accountable == "dana"
        assert node.owners.responsible, node.id
    assert activity.node("call_touches").owners.responsible == ("lena",)
    assert activity.node("automated_email_touches").owners.responsible == ("priya",)


def test_engagement_tree_has_the_seed_weights_decay_and_bands(engagement: MetricTree) -> None:
    root = engagement.node(engagement.root)
    assert root.kind is NodeKind.SCORE
    assert root.score is not None
    assert (root.score.decay.mode, root.score.decay.half_life_days) == ("step", 14)
    weights = {n.signal.signal: n.signal.weight for n in engagement.nodes.values() if n.signal}
    assert (weights["login"], weights["email_open"], weights["meeting_attended"]) == (5, 1, 10)
    bands = [(b.name, b.low, b.high) for b in root.score.bands]
    assert bands == [("Champion", 75, 100), ("Engaged", 50, 74), ("At risk", 25, 49), ("Dormant", 0, 24)]
    assert [r.entity for r in root.score.roll_up] == ["account_id"]


def test_engagement_tree_routes_branches_to_their_teams(engagement: MetricTree) -> None:
    types = engagement.node(engagement.root).children
    assert types == ("product_usage", "email_and_content", "human_interactions", "intent")
    assert engagement.node("product_usage").owners.responsible == ("entity:csm_email",)
    assert engagement.node("logins").owners.responsible == ("entity:csm_email",)
    assert engagement.node("email_and_content").owners.responsible == ("marketing",)
    assert engagement.node("email_opens").owners.accountable == "jonas"
