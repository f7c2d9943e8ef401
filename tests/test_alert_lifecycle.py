"""The lifecycle's decisions on their own: notify on firing, change, repeat and resolve, never on
every run; silences hold back without forgetting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from kpitree.alert.lifecycle import Decision, EventKind, Remembered, SilenceRule, decide, suppression
from kpitree.alert.rules import Condition
from kpitree.spec.models.alerts import ThresholdRule

T0 = datetime(2026, 11, 2, 7, tzinfo=UTC)
RULE = ThresholdRule.model_validate({"id": "low", "rule": "threshold", "below": 5, "repeat_interval": "7d"})


def remember(decision: Decision, before: Remembered | None, now: datetime) -> Remembered | None:
    """What the state store keeps after a decision (as kpitree.state.alerts.save_decision does)."""
    if decision.status == "resolved":
        return Remembered("resolved", "", None) if before is not None else None
    told = now if decision.notify else (before.last_notified_at if before else None)
    return Remembered("firing", decision.signature, told)


def play(
    holds: list[bool], step: timedelta, signature: str = "below", silenced: set[int] | None = None
) -> list[Decision]:
    state: Remembered | None = None
    decisions = []
    for index, holding in enumerate(holds):
        now = T0 + index * step
        held = "silence:1" if silenced and index in silenced else None
        decision = decide(RULE, Condition(holding, "", signature if holding else ""), state, now, held)
        decisions.append(decision)
        state = remember(decision, state, now)
    return decisions


def told(decisions: list[Decision]) -> list[EventKind | None]:
    return [d.kind for d in decisions if d.notify]


def test_three_runs_in_a_row_notify_once_and_the_resolution_once() -> None:
    decisions = play([True, True, True, False, False], timedelta(days=1))
    assert told(decisions) == [EventKind.FIRING, EventKind.RESOLVED]


def test_a_still_firing_alert_repeats_after_its_interval() -> None:
    assert told(play([True] * 4, timedelta(days=4))) == [EventKind.FIRING, EventKind.REPEAT]


def test_a_changed_signature_notifies_again() -> None:
    state = Remembered("firing", "below", T0)
    decision = decide(RULE, Condition(True, "", "above"), state, T0 + timedelta(hours=1))
    assert (decision.kind, decision.notify) == (EventKind.CHANGED, True)


def test_a_silenced_firing_is_recorded_then_told_when_the_silence_ends() -> None:
    decisions = play([True, True, True], timedelta(days=1), silenced={0, 1})
    assert [(d.kind, d.notify, d.suppressed_by) for d in decisions] == [
        (EventKind.FIRING, False, "silence:1"),
        (EventKind.FIRING, False, "silence:1"),
        (EventKind.FIRING, True, None),
    ]


def test_a_firing_never_told_resolves_without_a_message() -> None:
    decisions = play([True, False], timedelta(days=1), silenced={0})
    assert decisions[1].kind is EventKind.RESOLVED
    assert not decisions[1].notify


def test_silences_match_on_what_they_name_and_only_while_they_last() -> None:
    silence = SilenceRule(1, T0, T0 + timedelta(days=1), tree_id="t", node_id="calls")
    key = ("t", "calls", "drop", "")
    assert suppression([silence], [], key, T0) == "silence:1"
    assert suppression([silence], [], ("t", "emails", "drop", ""), T0) is None
    assert suppression([silence], [], key, T0 + timedelta(days=1)) is None


@given(
    holds=st.lists(st.booleans(), min_size=1, max_size=40),
    hours=st.integers(1, 4),  # 40 runs at most 4 hours apart stay inside the 7-day repeat interval
)
def test_notifications_are_exactly_the_transitions(holds: list[bool], hours: int) -> None:
    """Without repeats, a firing is told once per start and once per end: never on every run."""
    decisions = play(holds, timedelta(hours=hours))
    starts = sum(1 for before, now in zip([False, *holds], holds, strict=False) if now and not before)
    ends = sum(1 for before, now in zip([False, *holds], holds, strict=False) if before and not now)
    assert told(decisions).count(EventKind.FIRING) == starts
    assert told(decisions).count(EventKind.RESOLVED) == ends
    assert EventKind.REPEAT not in told(decisions)
