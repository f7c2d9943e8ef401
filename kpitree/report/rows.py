"""The report's table rows, formatted for people: shared by the Markdown, HTML and CSV outputs."""

from __future__ import annotations

from dataclasses import dataclass

from kpitree.attribute.score_change import ScoreChange
from kpitree.attribute.segments import PerView, SegmentView
from kpitree.attribute.tree import is_bad
from kpitree.compute.engine import tree_calendar
from kpitree.render.snapshot_data import fmt
from kpitree.report.variance import VarianceReport, owner_name


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
        rows.append(
            Row(
                node_id=node_id,
                title=node.title,
                parent=tree.node(node_id).parent,
                on_path=node_id in path,
                unit=node.unit,
                value=fmt(result.current.value),
                compare=fmt(result.compare.value if result.compare else None),
                delta=signed(result.delta),
                contribution=signed(local.value) if local else "",
                share=f"{local.share:.0%}" if local and local.share is not None else "",
                to_kpi=signed(attribution.to_root),
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
    moved = "did not move" if root.delta == 0 else ("fell" if root.delta < 0 else "rose")
    sentence = f"{kpi.title} {moved} from {fmt(root.before)} to {fmt(root.after)} {kpi.unit} in {period} {against}"
    path = report.attribution.largest_gap_path
    if len(path) == 1:
        verdict = "good" if root.delta and not is_bad(root.delta, kpi.direction) else "flat"
        return f"{sentence}; no branch moved it the bad way ({verdict})."
    last = tree.node(path[-1])
    to_root = report.attribution.nodes[path[-1]].to_root
    owners = report.attribution.gap_owners
    names = ", ".join(owner_name(tree, o) for o in owners.responsible) or "no one"
    accountable = f", accountable {owner_name(tree, owners.accountable)}" if owners.accountable else ""
    return (
        f"{sentence}. The largest gap is {last.title} ({signed(to_root)} {kpi.unit} of the change), "
        f"through {' > '.join(tree.node(n).title for n in path[1:-1]) or 'the KPI directly'}; "
        f"responsible {names}{accountable}."
    )


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
    sentence = f"{title} went from {fmt(view.before)} to {fmt(view.after)}; by part, and the denominator's own effect:"
    parts = [(tree.node(child).title, signed(value) or "0") for child, value in view.parts.items()]
    parts.append((f"{denominator.title} (the denominator)", signed(view.denominator_effect) or "0"))
    return PerViewText(title, sentence, parts)


def signed(value: float | None) -> str:
    if value is None:
        return ""
    return ("+" if value > 0 else "") + fmt(value)
