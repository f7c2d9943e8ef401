"""The calibration report: terminal text, Markdown, and a self-contained HTML page with a ROC curve
and a band chart drawn as inline SVG (no script, no external file)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from kpitree.calibrate.backtest import Assessment, Calibration
from kpitree.calibrate.stats import RocPoint
from kpitree.templating.html import html_environment

ROC_SIZE = 260
BAR_WIDTH = 64  # two bars side by side, each wide enough for its '100%'
BAR_HEIGHT = 120
REORDERS_SHOWN = 5  # pairs the suggestion reorders, named in the findings; the table has every weight


def _auc(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _cut(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _band_edges(c: Calibration, suggested: bool) -> str:
    bands = c.suggested_bands if suggested else c.bands
    return ", ".join(f"{b.name} {b.low:g}+" if b.low is not None else b.name for b in bands)


def calibration_lines(c: Calibration) -> list[str]:
    """Every finding of the back-test, a line each, in reading order."""
    train = c.train
    good = train.good_count
    lines = [
        f"{c.tree_id} / {c.node_id}: back-test per {c.level}, scores frozen as of {train.as_of:%Y-%m-%d}, "
        f"outcomes decided to {train.until:%Y-%m-%d}: {len(train.ids)} {c.level}s, {good} good, "
        f"{len(train.ids) - good} bad",
        f"AUC of the current score: {_auc(c.current.auc)} (0.5 is a coin, 1.0 a perfect ranking)",
        "good-outcome rate per band, lowest first: "
        + "; ".join(f"{b.band} {_rate(b.rate)} of {b.entities}" for b in c.current.bands)
        + (" - monotone" if c.current.monotone else " - NOT monotone: a higher band does not mean a better outcome"),
        f"cut-off between at risk and {c.healthy_band}: Youden's J {_cut(c.youden)}, "
        f"cost-based {_cut(c.cost)} (a missed churner costs {c.miss_cost:g} needless plays); bands start it at "
        f"{_cut(next((b.low for b in c.bands if b.name == c.healthy_band), None))}",
        "half-life grid (days: AUC of the fitted model): "
        + ", ".join(f"{g.half_life:g}: {_auc(g.auc)}" for g in c.grid)
        + f"; best {c.best_half_life:g} (now {c.current_half_life:g})",
        "suggested weights (logistic regression on decayed counts, rescaled to points): "
        + ", ".join(f"{s} {c.current_weights[s]:g} -> {w:g}" for s, w in c.suggested_weights.items()),
    ]
    lines.append(_support_line(c))
    if c.dropped_signals:
        lines.append(f"no predictive weight (set to 0): {', '.join(c.dropped_signals)}")
    lines.append(
        f"suggested score: AUC {_auc(c.suggested.auc)} on the same window; {c.healthy_band} from "
        f"{_cut(c.suggested_cutoff)} (Youden) or {_cut(c.suggested_cost_cutoff)} (cost); bands {_band_edges(c, True)}"
    )
    moved = next((b.low for b in c.suggested_bands if b.name == c.healthy_band), None)
    if c.suggested_cutoff is not None and moved is not None and moved != round(c.suggested_cutoff):
        lines.append(
            f"the cut-off {c.suggested_cutoff:.1f} lies outside the room its neighbours leave {c.healthy_band}: "
            f"kept at {moved:g}; the data put the line elsewhere than these bands allow (fewer or shifted bands?)"
        )
    v = c.validation
    if v is None:
        lines.append(f"not validated: {c.not_validated}")
    else:
        lines.append(
            f"validated on the next window (as of {v.sample.as_of:%Y-%m-%d}, {len(v.sample.ids)} {c.level}s): "
            f"AUC current {_auc(v.current.auc)}, suggested {_auc(v.suggested.auc)}; suggested bands "
            + ("monotone" if v.suggested.monotone else "NOT monotone")
        )
    return lines


def supported(c: Calibration, signal: str) -> bool | None:
    """Whether the data support changing the signal's weight: its suggested weight's 95% interval
    leaves out the current weight (rescaled to the suggestion's half-life and points, so the two
    are in the same units). None without an interval."""
    interval = c.weight_intervals.get(signal)
    if interval is None:
        return None
    low, high = interval
    return not low <= c.comparable_weights[signal] <= high


def _interval(c: Calibration, signal: str) -> str:
    interval = c.weight_intervals.get(signal)
    return "-" if interval is None else f"{interval[0]:g} to {interval[1]:g}"


def _support_line(c: Calibration) -> str:
    """Which suggested changes the data support: a weight whose interval leaves out the current one,
    and each pair of signals the suggestion puts in another order than the current weights."""
    if all(c.weight_intervals.get(s) is None for s in c.signals):
        return f"which changes the data support: unknown ({c.interval_note or 'no intervals'})"
    backed = [s for s in c.signals if supported(c, s)]
    open_ = [s for s in c.signals if supported(c, s) is False]
    text = "the data support changing " + (", ".join(backed) if backed else "no weight") + " (95% interval)"
    if open_:
        text += f"; they do not rule out the current weight of {', '.join(open_)}"
    reordered = [
        (a, b)
        for a, b in itertools.combinations(c.signals, 2)
        if (c.current_weights[a] - c.current_weights[b]) * (c.suggested_weights[a] - c.suggested_weights[b]) < 0
    ]
    reordered.sort(key=lambda pair: -abs(c.suggested_weights[pair[0]] - c.suggested_weights[pair[1]]))
    told = [_order(c, a, b) for a, b in reordered]  # the widest reorderings first
    shown = told[:REORDERS_SHOWN]
    if shown:
        text += "; reordered: " + "; ".join(shown)
        if len(told) > len(shown):
            text += f"; and {len(told) - len(shown)} more pairs (see the weights table)"
    return text


def _order(c: Calibration, a: str, b: str) -> str:
    high, low = (a, b) if c.suggested_weights[a] > c.suggested_weights[b] else (b, a)
    verdict = (
        "the data tell them apart"
        if not _overlap(c.weight_intervals.get(high), c.weight_intervals.get(low))
        and c.weight_intervals.get(high) is not None
        else "not supported: their intervals overlap"
    )
    return f"{high} ({c.suggested_weights[high]:g}) above {low} ({c.suggested_weights[low]:g}), {verdict}"


def _overlap(one: tuple[float, float] | None, other: tuple[float, float] | None) -> bool:
    return one is not None and other is not None and one[0] <= other[1] and other[0] <= one[1]


def calibration_markdown(c: Calibration) -> str:
    lines = [f"# Calibration: {c.tree_id} / {c.node_id}", ""]
    lines += [f"- {line}" for line in calibration_lines(c)]
    lines += [
        "",
        "| band | entities | good-outcome rate (current) | entities | rate (suggested bands) |",
        "|---|---:|---:|---:|---:|",
    ]
    for now, new in zip(c.current.bands, c.suggested.bands, strict=True):
        lines.append(f"| {now.band} | {now.entities} | {_rate(now.rate)} | {new.entities} | {_rate(new.rate)} |")
    lines += [
        "",
        "| signal | weight now | now, in the suggestion's units | suggested | 95% interval | change supported |",
        "|---|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {s} | {c.current_weights[s]:g} | {c.comparable_weights[s]:.2g} | {w:g} | {_interval(c, s)} "
        f"| {_yes_no(supported(c, s))} |"
        for s, w in c.suggested_weights.items()
    ]
    return "\n".join(lines) + "\n"


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "no"


def roc_polyline(points: Sequence[RocPoint], size: int = ROC_SIZE) -> str:
    return " ".join(f"{p.false_positive_rate * size:.1f},{size - p.true_positive_rate * size:.1f}" for p in points)


def band_bars(assessment: Assessment, height: int = BAR_HEIGHT) -> list[dict[str, Any]]:
    return [
        {
            "band": b.band,
            "x": i * (BAR_WIDTH + 14),
            "height": round((b.rate or 0.0) * height, 1),
            "y": round(height - (b.rate or 0.0) * height, 1),
            "label": f"{_rate(b.rate)} of {b.entities}",
            "rate": _rate(b.rate),
        }
        for i, b in enumerate(assessment.bands)
    ]


def calibration_html(c: Calibration) -> str:
    shown = c.validation
    curves = [("current", c.current), ("suggested", c.suggested)]
    if shown is not None:
        curves = [("current, validation", shown.current), ("suggested, validation", shown.suggested)]
    context = {
        "c": c,
        "lines": calibration_lines(c),
        "roc_size": ROC_SIZE,
        "curves": [{"name": name, "points": roc_polyline(a.roc), "auc": _auc(a.auc)} for name, a in curves],
        "ticks": [{"at": round(t * ROC_SIZE, 1), "label": f"{t:.0%}"} for t in (0.0, 0.25, 0.5, 0.75, 1.0)],
        "bar_height": BAR_HEIGHT,
        "bar_ticks": [
            {"y": round(BAR_HEIGHT - t * BAR_HEIGHT, 1), "label": f"{t:.0%}"} for t in (0.0, 0.25, 0.5, 0.75, 1.0)
        ],
        "bars_now": band_bars(c.current),
        "bars_new": band_bars(c.suggested),
        "bar_width": BAR_WIDTH,
        "weights": [
            (s, c.current_weights[s], f"{c.comparable_weights[s]:.2g}", w, _interval(c, s), _yes_no(supported(c, s)))
            for s, w in c.suggested_weights.items()
        ],
    }
    return html_environment().render("report/calibration.html.j2", context)
