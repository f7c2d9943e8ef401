"""Engagement-score arithmetic, starting from the seed's worked example."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpitree.scoring import SignalEvent, band_for, decay_factor, normalise, score_signals
from kpitree.spec.models import ScoreSpec
from kpitree.spec.models.nodes import DecaySpec, NormalisationSpec
from kpitree.tree_files import load_tree_or_raise
from tests.conftest import TREES

AS_OF = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _load_seed_score() -> ScoreSpec:
    tree = load_tree_or_raise(TREES / "contact_engagement_score.yaml")
    spec = tree.node(tree.root).score
    assert spec is not None
    return spec


SEED_SCORE = _load_seed_score()


@pytest.fixture
def seed_score() -> ScoreSpec:
    return SEED_SCORE


def _seed_contact(meeting_days_ago: int) -> list[SignalEvent]:
    days = [1, 2, 4, 6]  # four recent logins
    events = [SignalEvent("login", AS_OF - timedelta(days=d)) for d in days]
    events += [SignalEvent("email_open", AS_OF - timedelta(days=d, hours=3)) for d in range(6)]  # six recent opens
    events.append(SignalEvent("meeting_attended", AS_OF - timedelta(days=meeting_days_ago)))
    return events


def test_the_seed_example_scores_31_with_the_meeting_two_weeks_ago(seed_score: ScoreSpec) -> None:
    result = score_signals(_seed_contact(meeting_days_ago=14), seed_score, AS_OF)
    assert result.points == 31
    assert result.score == 31
    assert result.band == "At risk"
    assert result.points_by_type["product_usage"] == 20
    assert result.points_by_type["email_and_content"] == 6
    assert result.points_by_type["human_interactions"] == 5


def test_the_seed_example_scores_36_with_the_meeting_last_week(seed_score: ScoreSpec) -> None:
    result = score_signals(_seed_contact(meeting_days_ago=7), seed_score, AS_OF)
    assert result.score == 36
    assert result.points_by_type["human_interactions"] == 10


def test_step_decay_halves_at_each_half_life() -> None:
    step = DecaySpec(mode="step", half_life_days=14)
    assert [decay_factor(age, step) for age in (0, 13.99, 14, 27.9, 28, 42)] == [1, 1, 0.5, 0.5, 0.25, 0.125]
    assert decay_factor(-0.01, step) == 0  # after the as-of instant: not counted


def test_exponential_decay_is_smooth() -> None:
    smooth = DecaySpec(mode="exponential", half_life_days=14)
    assert decay_factor(7, smooth) == pytest.approx(2**-0.5)
    assert decay_factor(14, smooth) == pytest.approx(0.5)


def test_normalisation_methods() -> None:
    clip = NormalisationSpec(method="clip", max_points=200)
    assert [normalise(p, clip) for p in (-5, 0, 50, 200, 400)] == [0, 0, 25, 100, 100]
    log = NormalisationSpec(method="log", max_points=100)
    assert normalise(100, log) == pytest.approx(100)
    assert normalise(31, log) == pytest.approx(100 * math.log(32) / math.log(101))


def test_scores_between_band_edges_belong_to_the_lower_band(seed_score: ScoreSpec) -> None:
    names = [getattr(band_for(s, seed_score.bands), "name", None) for s in (0, 24.9, 25, 49.99, 50, 74.6, 75, 100)]
    assert names == ["Dormant", "Dormant", "At risk", "At risk", "Engaged", "Engaged", "Champion", "Champion"]


def test_signals_outside_the_window_or_unweighted_do_not_count(seed_score: ScoreSpec) -> None:
    events = [
        SignalEvent("login", AS_OF + timedelta(hours=1)),  # after as-of
        SignalEvent("login", AS_OF - timedelta(days=seed_score.lookback_days + 1)),  # past the lookback
        SignalEvent("page_view", AS_OF),  # a type the score does not weigh
        SignalEvent("app_minutes", AS_OF, quantity=40),  # 0.05 points a minute
    ]
    result = score_signals(events, seed_score, AS_OF)
    assert result.points == pytest.approx(2.0)
    assert result.points_by_type["product_usage"] == pytest.approx(2.0)


signal_types = st.sampled_from(["login", "feature_used", "email_open", "meeting_attended", "reply", "intent_surge"])
events = st.lists(
    st.builds(SignalEvent, signal_types, st.floats(0, 400).map(lambda d: AS_OF - timedelta(days=d))), max_size=60
)


@given(events)
def test_composition_sums_to_the_score_and_the_score_is_in_range(
    seed_events: list[SignalEvent],
) -> None:
    result = score_signals(seed_events, SEED_SCORE, AS_OF)
    assert 0 <= result.score <= 100
    assert sum(result.composition.values()) == pytest.approx(result.score, abs=1e-9)
    assert all(share >= 0 for share in result.composition.values())
