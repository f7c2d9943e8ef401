"""Alert rule conditions: worked cases, and properties the maths must keep (hypothesis)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kpitree.alert import rules
from kpitree.display import Display
from kpitree.spec.models.alerts import AnomalyRule, ChangeRule, SlideRule, ThresholdRule
from kpitree.tree import Direction


def change_rule(**overrides: object) -> ChangeRule:
    return ChangeRule.model_validate({"id": "c", "rule": "change", "pct": 15, "min_abs": 20, **overrides})


def test_change_needs_both_the_percent_and_the_floor() -> None:
    rule = change_rule(direction="down")
    assert rules.change(rule, 264, 480).holds  # -45%, -216
    assert not rules.change(rule, 2, 3).holds  # -33% but only 1 touch
    assert not rules.change(rule, 9_900, 10_000).holds  # -100 touches but 1%
    assert not rules.change(rule, 600, 480).holds  # up, and the rule watches down
    assert rules.change(change_rule(direction="both"), 600, 480).holds
    fell = rules.change(rule, 264, 480)
    assert fell.summary == "fell 45% (480 -> 264): past 15% and 20"
    assert fell.signature == "down"


def test_a_percent_node_s_rules_read_in_percent_and_points() -> None:
    """A win rate of 0.40 -> 0.35 reads as it does in the report: 40% -> 35%, the floor in pp."""
    percent = Display(percent=True)
    fell = rules.change(change_rule(direction="down", pct=10, min_abs=0.02), 0.35, 0.40, percent)
    assert fell.holds
    assert fell.summary == "fell 12.5% (40% -> 35%): past 10% and 2 pp"
    # a move that reads the same at the default precision gets the digits that tell it apart
    tiny = rules.change(change_rule(direction="down", pct=0.1, min_abs=0), 0.07041, 0.07049, percent)
    assert tiny.summary.startswith("fell 0.1% (7.05% -> 7.04%)")  # not 7.0% -> 7.0%
    below = ThresholdRule.model_validate({"id": "t", "rule": "threshold", "below": 0.97})
    assert rules.threshold(below, 0.948, percent).summary == "94.8% is below 97%"


def test_change_from_zero_and_without_values() -> None:
    assert rules.change(change_rule(), 50, 0).holds
    assert "from zero" in rules.change(change_rule(), 50, 0).summary
    assert not rules.change(change_rule(), None, 480).holds
    assert not rules.change(change_rule(), 480, 480).holds


def test_threshold_and_band() -> None:
    rule = ThresholdRule.model_validate({"id": "t", "rule": "threshold", "below": 4})
    assert rules.threshold(rule, 3.5).holds
    assert not rules.threshold(rule, 4).holds
    assert rules.band("below", "target 50-100", 31).summary == "31 is below target 50-100"
    assert not rules.band("within", "target 50-100", 60).holds


def test_slide_counts_consecutive_bad_moves() -> None:
    rule = SlideRule.model_validate({"id": "s", "rule": "slide", "periods": 3})
    assert rules.slide(rule, [9, 8, 7, 6], Direction.HIGHER_IS_BETTER).holds
    assert not rules.slide(rule, [9, 8, 8, 6], Direction.HIGHER_IS_BETTER).holds  # a flat period breaks it
    assert not rules.slide(rule, [8, 7, 6], Direction.HIGHER_IS_BETTER).holds  # too short
    assert rules.slide(rule, [1, 6, 7, 8], Direction.LOWER_IS_BETTER).holds


def test_anomaly_by_the_modified_z_score() -> None:
    rule = AnomalyRule.model_validate({"id": "a", "rule": "anomaly", "trailing": 8, "z": 3.5, "direction": "down"})
    history = [100, 104, 98, 101, 99, 103, 97, 102]
    dropped = rules.anomaly(rule, [*history, 80])
    # median 100.5, MAD 2: z = 0.6745 * (80 - 100.5) / 2 = -6.9
    assert dropped.holds
    assert dropped.facts["z"] == pytest.approx(0.6745 * (80 - 100.5) / 2)
    assert not rules.anomaly(rule, [*history, 96]).holds
    assert not rules.anomaly(rule, [*history, 130]).holds  # up, and the rule watches down
    assert not rules.anomaly(rule, [100, 80]).holds  # too little history


def test_a_flat_history_makes_any_change_an_anomaly() -> None:
    rule = AnomalyRule.model_validate({"id": "a", "rule": "anomaly", "trailing": 4})
    assert rules.anomaly(rule, [5, 5, 5, 5, 6]).holds
    assert not rules.anomaly(rule, [5, 5, 5, 5, 5]).holds


sizes = st.floats(1e-3, 1e6, allow_nan=False)


@given(value=sizes, compare=sizes, scale=st.floats(1e-3, 1e3))
def test_change_in_percent_does_not_depend_on_the_unit(value: float, compare: float, scale: float) -> None:
    rule = change_rule(min_abs=0)
    pct = abs(value - compare) / compare * 100
    assume(abs(pct - 15) > 1e-6)  # away from the edge, where rounding may tip either way
    assert rules.change(rule, value, compare).holds == rules.change(rule, value * scale, compare * scale).holds


# Values on a 0.01 grid: a shift of 1 swallows a value like 1e-138 in floating point, which changes
# the median for a reason that has nothing to do with the statistic.
CENTS = st.integers(-1_000_000, 1_000_000).map(lambda cents: cents / 100)


@given(
    history=st.lists(CENTS, min_size=8, max_size=12),
    current=CENTS,
    shift=CENTS,
    scale=st.floats(0.01, 100),
)
def test_the_anomaly_z_score_ignores_shifts_and_scales(
    history: list[float], current: float, shift: float, scale: float
) -> None:
    rule = AnomalyRule.model_validate({"id": "a", "rule": "anomaly", "trailing": 12})
    plain = rules.anomaly(rule, [*history, current]).facts.get("z")
    moved = rules.anomaly(rule, [*(v * scale + shift for v in history), current * scale + shift]).facts.get("z")
    assume(plain is not None and moved is not None)
    assert isinstance(plain, float)
    assert isinstance(moved, float)
    assume(abs(plain) < 1e6)
    assert moved == pytest.approx(plain, rel=1e-6, abs=1e-6)


@given(st.lists(st.floats(-1e6, 1e6), min_size=4, max_size=4, unique=True).map(sorted))
def test_a_strictly_falling_run_slides_for_higher_is_better_only(values: list[float]) -> None:
    assume(all(b - a > 1e-9 * max(1.0, abs(a)) for a, b in itertools.pairwise(values)))
    rule = SlideRule.model_validate({"id": "s", "rule": "slide", "periods": 3})
    falling = list(reversed(values))
    assert rules.slide(rule, falling, Direction.HIGHER_IS_BETTER).holds
    assert not rules.slide(rule, falling, Direction.LOWER_IS_BETTER).holds
    assert rules.slide(rule, values, Direction.LOWER_IS_BETTER).holds
