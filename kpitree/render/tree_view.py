"""``kpitree tree show``: the tree as a terminal picture with formulas, owners and bands."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from rich.tree import Tree

from kpitree.formula import describe
from kpitree.spec.models import BandSpec, FilterCondition, TargetSpec
from kpitree.tree import BranchRestriction, Direction, MetricTree, Node, NodeKind


def render_tree(tree: MetricTree) -> RenderableType:
    header = Text.assemble(
        (tree.title, "bold"),
        f"  [{tree.id}]  grain {tree.grain}, timezone {tree.timezone}",
        f", schedule '{tree.schedule.cron}'" if tree.schedule else "",
    )
    picture = Tree(_label(tree.nodes[tree.root]), guide_style="dim")
    shown: set[str] = {tree.root}
    _add_children(tree, tree.nodes[tree.root], picture, shown)
    parts: list[RenderableType] = [header, _sources(tree), picture]
    outside = [n for n in tree.nodes.values() if n.id not in shown]
    if outside:
        parts.append(Text(f"not under the root: {', '.join(n.id for n in outside)}", style="yellow"))
    return Group(*parts)


def _add_children(tree: MetricTree, node: Node, branch: Tree, shown: set[str]) -> None:
    for child_id in node.children:
        child = tree.nodes[child_id]
        if child_id in shown:
            # A DAG node appears under each parent; expand it once and point back to it after.
            branch.add(Text.assemble((child.title, "italic"), f" [{child.id}]", (" (shown above)", "dim")))
            continue
        shown.add(child_id)
        _add_children(tree, child, branch.add(_label(child)), shown)


def _label(node: Node) -> Text:
    arrow = "↑" if node.direction is Direction.HIGHER_IS_BETTER else "↓"
    text = Text.assemble((node.title, "bold"), (f" [{node.id}]", "cyan"), f" {arrow}")
    if node.unit:
        text.append(f" {node.unit}", style="dim")
    how = _how(node)
    if how:
        text.append(f"\n  {how}", style="green")
    owners = node.owners
    roles = [
        ("A", [owners.accountable] if owners.accountable else []),
        ("R", list(owners.responsible)),
        ("C", list(owners.consulted)),
        ("I", list(owners.informed)),
    ]
    text.append("\n  " + "  ".join(f"{role}: {', '.join(names)}" for role, names in roles if names), style="magenta")
    extras = [part for part in (_target(node.target), _bands("benchmarks", node.benchmarks)) if part]
    if node.kind is NodeKind.SCORE and node.score:
        extras.append(_bands("bands", tuple(node.score.bands)))
    if node.alerts:
        extras.append("alerts: " + ", ".join(f"{a.id} ({a.rule})" for a in node.alerts))
    for extra in extras:
        text.append(f"\n  {extra}", style="yellow")
    return text


def _how(node: Node) -> str:
    if node.kind is NodeKind.FORMULA and node.formula is not None:
        return f"= {node.formula_text or describe(node.formula)}"
    if node.kind is NodeKind.SCORE and node.score:
        decay = node.score.decay
        return (
            f"score of {node.score.entity} over {node.score.source}: weighted signals, {decay.mode} decay "
            f"halving every {decay.half_life_days:g} days, {node.score.normalisation.method} to 0-100"
        )
    if node.kind is NodeKind.SIGNAL and node.signal:
        per = " x quantity" if node.signal.use_quantity else " per signal"
        return f"{node.signal.signal!r}: {node.signal.weight:g} points{per}"
    if node.kind is NodeKind.ENGAGEMENT_TYPE:
        return "sum of its signals' decayed points"
    if node.measure is None:
        return ""
    m = node.measure
    text = f"{m.agg}({m.column or '*'}) over {m.source}"
    conditions = [
        *(_condition(column, cond) for column, cond in m.where.items()),
        *(_restriction(r) for r in node.restrictions),
    ]
    if conditions:
        text += " where " + " and ".join(conditions)
    if node.split_by:
        text += f", split by {node.split_by}"
    if node.per:
        text += f"; also per {node.per}"
    return text


_OP_SYMBOLS = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "in": "in", "not_in": "not in"}


def _condition(column: str, condition: FilterCondition) -> str:
    if condition.op == "any" and isinstance(condition.value, list):
        alternatives = [
            " and ".join(_condition(c, cond) for c, cond in alternative.items())
            for alternative in condition.value
            if isinstance(alternative, dict)
        ]
        return "(" + " or ".join(alternatives) + ")"
    if condition.op == "is_null":
        return f"{column} is {'' if condition.value else 'not '}null"
    return f"{column} {_OP_SYMBOLS[condition.op]} {condition.value!r}"


def _sources(tree: MetricTree) -> Text:
    text = Text()
    for name, source in tree.sources.items():
        where = " and ".join(_condition(column, cond) for column, cond in source.where.items())
        line = f"source {name}: {'table ' + source.table if source.table else 'file ' + str(source.file)}"
        line += f" where {where}" if where else ""
        line += f"; duplicates by ({', '.join(source.dedupe)}) count once" if source.dedupe else ""
        line += "".join(f"; joins {j.source} on {j.on}" for j in source.joins)
        text.append(line + "\n", style="dim")
    return text


def _restriction(restriction: BranchRestriction) -> str:
    if restriction.is_other:
        return f"{restriction.column} not in {list(restriction.excluded or ())} or null"
    return f"{restriction.column} in {list(restriction.values)}"


def _target(target: TargetSpec | None) -> str:
    if target is None:
        return ""
    if target.value is not None:
        return f"target: {target.value:g}"
    return f"target: {_range(target.low, target.high)}"


def _range(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{low:g}-{high:g}"
    return f">= {low:g}" if low is not None else f"<= {high:g}" if high is not None else "any"


def _bands(label: str, bands: tuple[BandSpec, ...]) -> str:
    if not bands:
        return ""
    return f"{label}: " + "; ".join(f"{b.name} {_range(b.low, b.high)}" for b in bands)
