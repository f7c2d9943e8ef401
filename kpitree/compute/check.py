"""``kpitree check``: prove on the real data that every parent equals f(its children).

What is checked, per period:

* a split measure equals the sum of its branches (the SQL computes each branch separately, so a
  NULL in the split column, or a branch filter that overlaps another, shows up here);
* with a shared denominator (``per``), the branches' per-unit values add up to the parent's;
* an engagement score's mean equals the sum of its engagement types' mean contributions;
* a formula node equals its formula evaluated on its inputs;
* a product or ratio of two measures on the same source with the same filters (revenue = won deals
  x average deal size) has both factors computed over the same rows: a NULL in one factor's column
  (a won deal with a blank Amount) leaves that row out of its average but not out of the count, so
  the product is not the sum it stands for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from kpitree.compute.batch import SegmentFilter
from kpitree.compute.engine import PeriodValues, TreeComputation, compute_periods
from kpitree.errors import InternalError
from kpitree.formula import BinOp, Ref, evaluate, referenced_ids
from kpitree.periods import Period
from kpitree.spec.models.nodes import ADDITIVE_AGGREGATIONS
from kpitree.tree import MetricTree, Node, NodeKind, tree_calendar
from kpitree.warehouse import Warehouse


@dataclass(frozen=True)
class IdentityCheck:
    node_id: str
    period: str
    rule: str  # "branches sum", "per-unit branches sum", "types sum", "formula"
    parent: float | None
    children: float | None
    holds: bool | None  # None: not checkable (a value is missing)

    @property
    def difference(self) -> float | None:
        if self.parent is None or self.children is None:
            return None
        return self.parent - self.children


@dataclass(frozen=True)
class CheckReport:
    tree: MetricTree
    checks: tuple[IdentityCheck, ...]

    @property
    def failures(self) -> tuple[IdentityCheck, ...]:
        return tuple(c for c in self.checks if c.holds is False)

    @property
    def ok(self) -> bool:
        return not self.failures


def close(a: float, b: float, tolerance: float) -> bool:
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)


def check_tree(
    tree: MetricTree, periods: Sequence[Period], warehouse: Warehouse, segment: SegmentFilter, tolerance: float
) -> CheckReport:
    return check_computation(compute_periods(tree, periods, warehouse, segment), tolerance)


def check_computation(computation: TreeComputation, tolerance: float) -> CheckReport:
    """The identities of every node, in every period of a computation already made."""
    tree = computation.tree
    calendar = tree_calendar(tree)
    checks: list[IdentityCheck] = []
    for values in computation.periods:
        label = calendar.label(values.period)
        for node in tree.nodes.values():
            checks += _checks(tree, node, values, label, tolerance)
    return CheckReport(tree, tuple(checks))


def _checks(tree: MetricTree, node: Node, values: PeriodValues, label: str, tolerance: float) -> list[IdentityCheck]:
    def identity(rule: str, parent: float | None, children: float | None) -> IdentityCheck:
        holds = None if parent is None or children is None else close(parent, children, tolerance)
        return IdentityCheck(node.id, label, rule, parent, children, holds)

    def total(ids: Sequence[str]) -> float | None:
        found = [values.value(i) for i in ids]
        return None if any(v is None for v in found) else sum(v for v in found if v is not None)

    checks: list[IdentityCheck] = []
    additive = node.measure is not None and node.measure.agg in ADDITIVE_AGGREGATIONS
    if node.kind is NodeKind.MEASURE and node.split_by and node.children and additive:
        checks.append(identity("branches sum", values.value(node.id), total(node.children)))
        if node.per:
            denominator = values.value(node.per)
            if denominator:
                parts = total(node.children)
                parent = values.value(node.id)
                checks.append(
                    identity(
                        f"per {node.per}: branches sum",
                        None if parent is None else parent / denominator,
                        None if parts is None else parts / denominator,
                    )
                )
    if node.kind in (NodeKind.SCORE, NodeKind.ENGAGEMENT_TYPE):
        checks.append(identity("parts sum", values.value(node.id), total(node.children)))
    if node.kind is NodeKind.FORMULA and node.formula is not None:
        inputs = {ref: values.value(ref) for ref in referenced_ids(node.formula)}
        checks.append(identity("formula", values.value(node.id), evaluate(node.formula, inputs).value))
        checks += [identity(rule, a, b) for rule, a, b in _same_rows(tree, node, values)]
    return checks


def _same_rows(tree: MetricTree, node: Node, values: PeriodValues) -> list[tuple[str, float | None, float | None]]:
    """(rule, rows of one factor, rows of the other) for a product or ratio of two measures that
    should aggregate the same rows: same source, same filters."""
    expr = node.formula
    if not (
        isinstance(expr, BinOp) and expr.op in ("*", "/") and isinstance(expr.left, Ref) and isinstance(expr.right, Ref)
    ):
        return []
    left, right = tree.nodes.get(expr.left.name), tree.nodes.get(expr.right.name)
    if left is None or right is None or left.measure is None or right.measure is None:
        return []
    if (left.measure.source, left.measure.where, left.restrictions) != (
        right.measure.source,
        right.measure.where,
        right.restrictions,
    ):
        return []  # different filters: different rows on purpose (won deals / closed deals)
    rows = (_rows_used(left, values), _rows_used(right, values))
    if rows[0] is None and rows[1] is None:
        return []
    return [(f"{left.id} {expr.op} {right.id}: both over the same rows", *rows)]


def _rows_used(node: Node, values: PeriodValues) -> float | None:
    """How many rows a measure aggregated: a plain count's own value, else its kept rows minus the
    NULLs its column left out."""
    measure = node.measure
    if measure is None:
        raise InternalError("measure is missing")
    value = values.values.get(node.id)
    if value is None:
        return None
    if measure.column is None:
        return value.value if measure.agg == "count" else None
    return None if value.rows is None else float(value.rows - value.nulls)
