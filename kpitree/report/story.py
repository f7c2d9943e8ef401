"""``kpitree explain``: one node's movement told in plain words, from the KPI down to its owner."""

from __future__ import annotations

from kpitree.analysis.attribution import NodeAttribution, is_bad
from kpitree.analysis.variance import VarianceReport, owner_name
from kpitree.display import change, display_of, number, pair
from kpitree.errors import InternalError, UsageError
from kpitree.report.rows import headline, per_view_text, score_split_sentence, signed, with_unit
from kpitree.spec.suggest import did_you_mean


def explain(report: VarianceReport, node_id: str) -> str:
    tree = report.tree
    if node_id not in tree.nodes:
        raise UsageError(
            f"no node {node_id!r} in tree {tree.id!r}", hint=did_you_mean(node_id, tree.nodes, "see: kpitree tree show")
        )
    node = tree.node(node_id)
    attribution = report.attribution.nodes[node_id]
    kpi = tree.node(tree.root)
    lines = [headline(report), ""]
    if attribution.delta is None:
        reason = report.snapshot.result(node_id).current.reason or attribution.reason or "no value in one period"
        lines.append(f"{node.title} cannot be compared: {reason}.")
        return "\n".join(lines) + "\n"
    lines.append(_movement(attribution))
    chain = _chain(report, node_id)
    if len(chain) > 1:
        lines.append(f"It sits under {' > '.join(tree.node(n).title for n in chain[:-1])}.")
    local = report.attribution.to_parent(node_id)
    if node.parent is not None and local is not None:
        parent = tree.node(node.parent)
        share = f" ({local.share:.0%} of its change)" if local.share is not None else " (its parent barely moved)"
        moved = with_unit(signed(local.value, display_of(parent)), parent.unit, display_of(parent))
        lines.append(f"It moved {parent.title} by {moved}{share}.")
    if node_id != tree.root and attribution.to_root is not None:
        if attribution.to_root == 0:
            effect = "not at all"
        else:
            effect = "the bad way" if is_bad(attribution.to_root, kpi.direction) else "the good way"
        moved = with_unit(signed(attribution.to_root, display_of(kpi)), kpi.unit, display_of(kpi))
        lines.append(f"All told it moved {kpi.title} by {moved}: {effect}.")
    if attribution.contributions:
        method = attribution.method.value if attribution.method else ""
        lines.append(f"Its own change splits over its children ({method}):")
        for c in sorted(attribution.contributions, key=lambda c: abs(c.value), reverse=True):
            share = f", {c.share:.0%}" if c.share is not None else ""
            moved = with_unit(signed(c.value, display_of(node)), node.unit, display_of(node))
            lines.append(f"  - {tree.node(c.child).title}: {moved}{share}")
        if attribution.residual and abs(attribution.residual) > 1e-9 * max(abs(attribution.delta), 1.0):
            residual = signed(attribution.residual, display_of(node))
            lines.append(f"  - not explained by the branches (they overlap): {residual}")
    elif attribution.reason:
        lines.append(f"Its change cannot be split further: {attribution.reason}.")
    lines += _score_split(report, node_id)
    lines += _segments(attribution)
    if attribution.per is not None:
        text = per_view_text(report, node_id, attribution.per)
        lines += [text.sentence, *(f"  - {part}: {value}" for part, value in text.parts)]
    owners = node.owners
    responsible = ", ".join(owner_name(tree, o) for o in owners.responsible) or "no one"
    accountable = owner_name(tree, owners.accountable) if owners.accountable else "no one"
    lines.append(f"Owner: responsible {responsible}; accountable {accountable}.")
    if owners.consulted:
        lines.append(f"Consulted: {', '.join(owner_name(tree, o) for o in owners.consulted)}.")
    return "\n".join(lines) + "\n"


def _movement(attribution: NodeAttribution) -> str:
    node = attribution.node
    delta = attribution.delta
    if delta is None:
        raise InternalError("delta is missing")
    if attribution.before is None:
        raise InternalError("attribution.before is missing")
    display = display_of(node)
    if delta == 0:
        return f"{node.title} did not move ({with_unit(number(attribution.after, display), node.unit, display)})."
    verb = "fell" if delta < 0 else "rose"
    relative = f", {delta / abs(attribution.before):+.0%}" if attribution.before else ""
    judgement = "bad" if is_bad(delta, node.direction) else "good"
    up = "up" if node.direction.value == "higher_is_better" else "down"
    before, after = pair(attribution.before, attribution.after, display)
    return (
        f"{node.title} {verb} from {before} to {with_unit(after, node.unit, display)} "
        f"({change(delta, display)}{relative}). That is {judgement}: {up} is good for it."
    )


def _chain(report: VarianceReport, node_id: str) -> list[str]:
    chain = [node_id]
    while (parent := report.tree.node(chain[0]).parent) is not None:
        chain.insert(0, parent)
    return chain


def _score_split(report: VarianceReport, node_id: str) -> list[str]:
    """For a score and its engagement types: how much of the move was new activity, how much ageing."""
    parts = report.score_parts(node_id)
    if parts is None:
        return []
    if node_id in report.score_changes:
        return [score_split_sentence(report.score_changes[node_id], report.tree.node(node_id).unit)]
    ageing, new_activity = parts
    return [f"Of its change, {signed(new_activity) or '0'} is new activity and {signed(ageing) or '0'} is ageing."]


def _segments(attribution: NodeAttribution) -> list[str]:
    view = attribution.segments
    if view is None or not view.segments:
        return []
    display = display_of(attribution.node)
    lines = [f"By {view.split_by}, each segment's part, from its own rate and from its share (mix):"]
    lines += [
        f"  - {s.pair.label}: rate {signed(s.effect.rate, display) or '0'}, mix {signed(s.effect.mix, display) or '0'} "
        f"(in all {signed(s.effect.total, display) or '0'})"
        for s in view.segments
    ]
    return lines
