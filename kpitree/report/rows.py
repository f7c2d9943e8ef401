"""The report's table rows, formatted for people: shared by the Markdown, HTML and CSV outputs."""

from __future__ import annotations

from dataclasses import dataclass

from kpitree.analysis.attribution import SegmentStep, is_bad
from kpitree.analysis.score_change import ScoreChange
from kpitree.analysis.segments import PerView, SegmentView
from kpitree.analysis.variance import VarianceReport, owner_name
from kpitree.display import PLAIN, Display, change, display_of, pair
from kpitree.formula import BinOp, Ref
from kpitree.tree import MetricTree, tree_calendar


@dataclass(frozen=True)
class Row:
    node_id: str
    title: str
    parent: str | None
    on_path: bool
    unit: str
    value: str
    compare: str
    delta: str
    contribution: str  # to the parent's movement, in the parent's units
    share: str  # of the parent's movement ("" when the parent barely moved)
    to_kpi: str  # pushed down to the KPI's units
    to_kpi_number: float | None
    status: str
    responsible: str
    accountable: str
    method: str
    note: str  # a reason the value or the attribution is missing
    ageing: str  # score and engagement-type nodes: the part of the change that time alone made
    new_activity: str  # ... and the part the signals since the comparison made


def report_rows(report: VarianceReport) -> list[Row]:
    tree = report.tree
    path = set(report.attribution.largest_gap_path)
    rows = []
    for node_id in report.node_order():
        result = report.snapshot.result(node_id)
        attribution = report.attribution.nodes[node_id]
        local = report.attribution.to_parent(node_id)
        node = tree.node(node_id)
        score_parts = report.score_parts(node_id)
        statuses = [
            f"{result.target.status} target" if result.target else "",
            f"{result.benchmark.status} {result.benchmark.name}" if result.benchmark else "",
            result.score_band or "",
        ]
        shown = pair(result.compare.value if result.compare else None, result.current.value, display_of(node))
        rows.append(
            Row(
                node_id=node_id,
                title=node.title,
                parent=tree.node(node_id).parent,
                on_path=node_id in path,
                unit=node.unit,
                compare=shown[0],
                value=shown[1],
                delta=change(result.delta, display_of(node)) if result.delta is not None else "",
                contribution=signed(local.value, display_of(tree.node(node.parent))) if local and node.parent else "",
                share=_percent(local.share) if local and local.share is not None else "",
                to_kpi=signed(attribution.to_root, display_of(tree.node(tree.root))),
                to_kpi_number=attribution.to_root,
                status="; ".join(s for s in statuses if s),
                responsible=", ".join(owner_name(tree, o) for o in node.owners.responsible),
                accountable=owner_name(tree, node.owners.accountable) if node.owners.accountable else "",
                method=attribution.method.value if attribution.method and attribution.contributions else "",
                note=result.current.reason or attribution.reason or "",
                ageing=signed(score_parts[0]) if score_parts else "",
                new_activity=signed(score_parts[1]) if score_parts else "",
            )
        )
    return rows


def headline(report: VarianceReport) -> str:
    """One sentence: how the KPI moved, and which branch moved it most the bad way, owned by whom."""
    tree = report.tree
    calendar = tree_calendar(tree)
    root = report.attribution.root
    kpi = tree.node(tree.root)
    period = calendar.label(report.snapshot.period)
    against = _against(report)
    if root.delta is None:
        return f"{kpi.title} for {period} cannot be compared {against}: {root.reason or 'no value in one period'}."
    before, after = pair(root.before, root.after, display_of(kpi))
    after = with_unit(after, kpi.unit, display_of(kpi))
    if root.delta == 0:
        sentence = f"{kpi.title} did not move ({after}) in {period} {against}"
    else:
        sentence = f"{kpi.title} {'fell' if root.delta < 0 else 'rose'} from {before} to {after} in {period} {against}"
    path = report.attribution.largest_gap_path
    step = report.attribution.gap_segment
    if step is not None:
        return sentence + _segment_gap(report, step)
    if len(path) == 1:
        if root.reason and kpi.children:  # branches shown, not summed: say so, and which moved worst
            return f"{sentence}; {root.reason}{_worst_branch(report)}."
        if not kpi.children:
            moved_badly = root.delta != 0 and is_bad(root.delta, kpi.direction)
            return f"{sentence} ({'bad' if moved_badly else 'good' if root.delta else 'flat'}); it has no branches."
        verdict = "good" if root.delta and not is_bad(root.delta, kpi.direction) else "flat"
        return f"{sentence}; no branch moved it the bad way ({verdict}).{_worst_segment(report)}"
    last = tree.node(path[-1])
    to_root = report.attribution.nodes[path[-1]].to_root
    owners = _gap_owners(report)
    shown = display_of(kpi)
    return (
        f"{sentence}. The largest gap is {last.title} "
        f"({with_unit(signed(to_root, shown), kpi.unit, shown)} of the change), "
        f"through {' > '.join(tree.node(n).title for n in path[1:-1]) or 'the KPI directly'}; "
        f"{owners}.{_worst_segment(report)}"
    )


def _percent(fraction: float) -> str:
    """'12%'; a share that rounds to nothing reads '0%', never '-0%' (a child that did not move)."""
    text = f"{fraction:.0%}"
    return "0%" if text == "-0%" else text


def _gap_owners(report: VarianceReport) -> str:
    """'responsible Dana Whitfield, accountable Vera Park'."""
    tree = report.tree
    owners = report.attribution.gap_owners
    names = ", ".join(owner_name(tree, o) for o in owners.responsible) or "no one"
    accountable = f", accountable {owner_name(tree, owners.accountable)}" if owners.accountable else ""
    return f"responsible {names}{accountable}"


def _segment_gap(report: VarianceReport, step: SegmentStep) -> str:
    """'. The largest gap is region LATAM (-2.8 pp of the change: -2.8 pp from its own win rate, ...'"""
    tree = report.tree
    kpi = tree.node(tree.root)
    shown = display_of(kpi)
    path = report.attribution.largest_gap_path
    owners = _gap_owners(report)
    ratio = tree.node(step.ratio)
    effect = step.segment.effect
    scale = step.to_root / effect.total if effect.total else 0.0
    rate, mix = (with_unit(signed(v * scale, shown), kpi.unit, shown) for v in (effect.rate, effect.mix))
    # The path ends at the segment's numerator branch, or (segment_by: no branch) at the ratio.
    between = path[1:-1] if step.segment.pair.numerator is not None else path[1:]
    through = " > ".join(tree.node(n).title for n in between)
    denominator = _denominator_of(tree, step)
    share_of = f" of {tree.node(denominator).title.lower()}" if denominator else ""
    return (
        f". The largest gap is {step.split_by} {step.segment.pair.label} "
        f"({with_unit(signed(step.to_root, shown), kpi.unit, shown)} of the change: {rate} from its own "
        f"{ratio.title.lower()}, {mix} from its share{share_of}){f', through {through}' if through else ''}; "
        f"{owners}."
    )


def _denominator_of(tree: MetricTree, step: SegmentStep) -> str | None:
    """The node a segment's share is a share of: its denominator branch's parent, or (a
    ``segment_by`` segment has no branch) the ratio's denominator."""
    if step.segment.pair.denominator is not None:
        return tree.node(step.segment.pair.denominator).parent
    formula = tree.node(step.ratio).formula
    if isinstance(formula, BinOp) and isinstance(formula.right, Ref) and formula.right.name in tree.nodes:
        return formula.right.name
    return None


def _worst_segment(report: VarianceReport) -> str:
    """' By Region, LATAM moved it most the bad way: -5.9 pp (its own rate -5.8 pp, its share -0.1 pp).'

    The KPI's mix-and-rate view, when it has one, names the segment behind the movement even where
    the branches cannot (a distinct count's branches are shown, not summed)."""
    tree = report.tree
    kpi = tree.node(tree.root)
    view = report.attribution.root.segments
    if view is None or view.reason or not view.segments:
        return ""
    bad = [s for s in view.segments if s.effect.total and is_bad(s.effect.total, kpi.direction)]
    if not bad:
        return ""
    worst = max(bad, key=lambda s: abs(s.effect.total))
    shown = display_of(kpi)
    effect = worst.effect
    total, rate, mix = (with_unit(signed(v, shown), kpi.unit, shown) for v in (effect.total, effect.rate, effect.mix))
    return (
        f" By {view.split_by}, {worst.pair.label} moved it most the bad way: {total} "
        f"(its own rate {rate}, its share {mix})."
    )


def _worst_branch(report: VarianceReport) -> str:
    """'; the branch that moved most the bad way: Partner (+6.23 hours)', or '' when none did."""
    tree = report.tree
    kpi = tree.node(tree.root)
    moves = [(report.attribution.nodes[c].delta, c) for c in kpi.children if c in report.attribution.nodes]
    bad = [(delta, child) for delta, child in moves if delta is not None and is_bad(delta, kpi.direction)]
    if not bad:
        return ""
    delta, child = max(bad, key=lambda item: abs(item[0]))
    node, display = tree.node(child), display_of(tree.node(child))
    amount = with_unit(signed(delta, display), node.unit, display)
    return f"; the branch that moved most the bad way: {node.title} ({amount})"


def _against(report: VarianceReport) -> str:
    snapshot = report.snapshot
    if snapshot.compare_window is not None:
        return f"against {tree_calendar(report.tree).label(snapshot.compare_window.period)}"
    return "against target" if snapshot.comparison else ""


def score_split_sentence(change: ScoreChange, unit: str) -> str:
    """What the split says in words: whether time alone moved the score."""
    if change.only_ageing:
        return (
            f"The {change.subject} score moved {signed(change.delta)} {unit} only because time passed: "
            "older signals decayed or left the lookback window, and no new activity changed it."
        )
    return (
        f"The {change.subject} score moved {signed(change.delta) or '0'} {unit}: {signed(change.new_activity) or '0'} "
        f"from new activity since the comparison, {signed(change.ageing) or '0'} from ageing (older signals decaying "
        "or leaving the lookback window)."
    )


def segment_views(report: VarianceReport) -> list[tuple[str, SegmentView]]:
    """The nodes whose movement is also told per segment (mix and rate), in report order."""
    views = ((node_id, report.attribution.nodes[node_id].segments) for node_id in report.node_order())
    return [(node_id, view) for node_id, view in views if view is not None]


def per_views(report: VarianceReport) -> list[tuple[str, PerView]]:
    """The split nodes whose parts are also told per their denominator, in report order."""
    views = ((node_id, report.attribution.nodes[node_id].per) for node_id in report.node_order())
    return [(node_id, view) for node_id, view in views if view is not None]


@dataclass(frozen=True)
class PerViewText:
    title: str  # "Logged touches per active contacts"
    sentence: str
    parts: list[tuple[str, str]]  # (label, signed effect), the denominator last


def per_view_text(report: VarianceReport, node_id: str, view: PerView) -> PerViewText:
    """Each part's effect on the node per denominator unit, in words and lines."""
    tree = report.tree
    node, denominator = tree.node(node_id), tree.node(view.denominator)
    title = f"{node.title} per {denominator.title.lower()}"
    if view.reason:
        return PerViewText(title, f"{title} is not split by part: {view.reason}.", [])
    before, after = pair(view.before, view.after)
    sentence = f"{title} went from {before} to {after}; by part, and the denominator's own effect:"
    parts = [(tree.node(child).title, signed(value) or "0") for child, value in view.parts.items()]
    parts.append((f"{denominator.title} (the denominator)", signed(view.denominator_effect) or "0"))
    return PerViewText(title, sentence, parts)


def signed(value: float | None, display: Display = PLAIN) -> str:
    """A signed amount in a node's units ('' for none): ``+12``, or ``-1.2 pp`` for a percent."""
    return "" if value is None else change(value, display)


def with_unit(amount: str, unit: str, display: Display = PLAIN) -> str:
    """``amount unit``, without a unit a percent already carries (pp) and without a stray space."""
    return amount if not unit or display.percent else f"{amount} {unit}"
