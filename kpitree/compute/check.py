"""``kpitree check``: prove on the real data that every parent equals f(its children).

What is checked, per period:

* a split measure equals the sum of its branches (the SQL computes each branch separately, so a
  NULL in the split column, or a branch filter that overlaps another, shows up here);
* with a shared denominator (``per``), the branches' per-unit values add up to the parent's;
* an engagement score's mean equals the sum of its engagement types' mean contributions;
* a formula node equals its formula evaluated on its inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from kpitree.compute.batch import SegmentFilter
from kpitree.compute.engine import PeriodValues, TreeComputation, compute_periods, tree_calendar
from kpitree.formula import evaluate, referenced_ids
from kpitree.periods import Period
from kpitree.tree import MetricTree, Node, NodeKind
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
            checks += _checks(node, values, label, tolerance)
    return CheckReport(tree, tuple(checks))


def _checks(node: Node, values: PeriodValues, label: str, tolerance: float) -> list[IdentityCheck]:
    def identity(rule: str, parent: float | None, children: float | None) -> IdentityCheck:
        holds = None if parent is None or children is None else close(parent, children, tolerance)
        return IdentityCheck(node.id, label, rule, parent, children, holds)

    def total(ids: Sequence[str]) -> float | None:
        found = [values.value(i) for i in ids]
        return None if any(v is None for v in found) else sum(v for v in found if v is not None)

    checks = []
    if node.kind is NodeKind.MEASURE and node.split_by and node.children:
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
    return checks
