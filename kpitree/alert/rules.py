"""Alert rules as conditions on a node's values: does the rule hold for the current period?

Each function is pure and returns a :class:`Condition` whether or not the rule holds, because a
condition that stops holding is what resolves a firing alert. ``signature`` is what the alert
says beyond "firing" (its direction, the band it is in): when it changes, a firing alert may
notify again (``notify_on_change``).

Per-entity band crossings for scores need the entities' bands and are evaluated elsewhere.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kpitree.display import PLAIN, Display, number, pair
from kpitree.spec.models.alerts import AnomalyRule, ChangeRule, SlideRule, ThresholdRule
from kpitree.tree import Direction

# 0.6745 is the 0.75 quantile of the standard normal: it makes the MAD comparable to a standard
# deviation (Iglewicz and Hoaglin's modified z-score), so z = 3.5 means what it usually means.
MAD_SCALE = 0.6745


@dataclass(frozen=True)
class Condition:
    holds: bool
    summary: str  # in words, for the message: "fell 45% (480 -> 264): past 15% and 20"
    signature: str = ""
    facts: Mapping[str, float | str | None] = field(default_factory=dict)


def threshold(rule: ThresholdRule, value: float | None, display: Display = PLAIN) -> Condition:
    """``display`` is the node's (a percent reads 35%, not 0.35), here and in the other rules."""
    _n = _numbers(display)
    if value is None:
        return Condition(False, "no value")
    if rule.above is not None and value > rule.above:
        return Condition(True, f"{_n(value)} is above {_n(rule.above)}", "above", {"value": value})
    if rule.below is not None and value < rule.below:
        return Condition(True, f"{_n(value)} is below {_n(rule.below)}", "below", {"value": value})
    return Condition(False, f"{_n(value)} is within the threshold", facts={"value": value})


def band(status: str | None, band_name: str, value: float | None, display: Display = PLAIN) -> Condition:
    """``status`` is the value's place against the band: below, within or above (None: no band)."""
    _n = _numbers(display)
    if status is None or value is None:
        return Condition(False, "no band or no value")
    if status == "within":
        return Condition(False, f"{_n(value)} is within {band_name}", facts={"value": value})
    return Condition(True, f"{_n(value)} is {status} {band_name}", status, {"value": value, "band": band_name})


def change(rule: ChangeRule, value: float | None, compare: float | None, display: Display = PLAIN) -> Condition:
    """Both the relative change (``pct``) and the absolute one (``min_abs``) must be passed: a 50%
    rise from 2 to 3 is noise, and so is a 0.1% move of a large number."""
    if value is None or compare is None:
        return Condition(False, "no value in one of the periods")
    delta = value - compare
    pct = math.inf if compare == 0 and delta else (abs(delta) / abs(compare) * 100 if compare else 0.0)
    way = "up" if delta > 0 else "down"
    facts = {"value": value, "compare": compare, "delta": delta, "pct": pct if math.isfinite(pct) else None}
    before, after = pair(compare, value, display)
    moved = f"{'rose' if delta > 0 else 'fell'} {_pct(pct)} ({before} -> {after})"
    if delta == 0 or (rule.direction != "both" and rule.direction != way):
        return Condition(False, f"did not move {rule.direction}" if delta else "did not move", facts=facts)
    holds = pct >= rule.pct and abs(delta) >= rule.min_abs
    floor = f"{number(rule.min_abs * 100)} pp" if display.percent else number(rule.min_abs)
    limits = f"{number(rule.pct)}% and {floor}"
    return Condition(holds, f"{moved}: {'past' if holds else 'within'} {limits}", way if holds else "", facts)


def slide(rule: SlideRule, values: Sequence[float | None], direction: Direction, display: Display = PLAIN) -> Condition:
    """``values`` oldest first, ending with the current period: the last ``periods`` moves all bad."""
    recent = list(values[-(rule.periods + 1) :])
    if len(recent) < rule.periods + 1 or any(v is None for v in recent):
        return Condition(False, f"fewer than {rule.periods + 1} periods with values")
    numbers = [v for v in recent if v is not None]
    moves = [b - a for a, b in itertools.pairwise(numbers)]
    bad = [m < 0 if direction is Direction.HIGHER_IS_BETTER else m > 0 for m in moves]
    facts: dict[str, float | str | None] = {"from": numbers[0], "value": numbers[-1], "periods": float(rule.periods)}
    if all(bad):
        first, last = pair(numbers[0], numbers[-1], display)
        return Condition(
            True,
            f"moved the bad way {rule.periods} periods running ({first} -> {last})",
            "sliding",
            facts,
        )
    return Condition(False, "not a slide", facts=facts)


def anomaly(rule: AnomalyRule, values: Sequence[float | None], display: Display = PLAIN) -> Condition:
    """The current value against the ``trailing`` periods before it, by the modified z-score
    0.6745 (x - median) / MAD. With a MAD of 0 (a flat history) any change is an anomaly."""
    *history, current = values
    trailing = [v for v in history[-rule.trailing :] if v is not None]
    if current is None or len(trailing) < max(4, rule.trailing // 2):
        return Condition(False, "too little history")
    median = statistics.median(trailing)
    mad = statistics.median(abs(v - median) for v in trailing)
    deviation = current - median
    z = MAD_SCALE * deviation / mad if mad else (math.inf if deviation else 0.0)
    way = "up" if deviation > 0 else "down"
    facts = {"value": current, "median": median, "z": z if math.isfinite(z) else None}
    if deviation == 0 or (rule.direction != "both" and rule.direction != way):
        return Condition(False, "within the usual range", facts=facts)
    holds = abs(z) >= rule.z
    shown, usual = pair(current, median, display)
    words = f"{shown} against a median of {usual} over {len(trailing)} periods (z {_z(z)})"
    return Condition(holds, words, way if holds else "", facts)


def _numbers(display: Display) -> Callable[[float], str]:
    return lambda value: number(value, display)


def _pct(pct: float) -> str:
    """A relative change: 45%, 12.5% (one decimal under 100, as the messages' movement line)."""
    if math.isinf(pct):
        return "from zero"
    return f"{pct:,.0f}%" if pct >= 100 else f"{pct:.1f}".removesuffix(".0") + "%"


def _z(z: float) -> str:
    return "infinite" if math.isinf(z) else f"{z:+.1f}"
