"""One node's movement over its children: which method its formula calls for, and the result."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kpitree.analysis.methods import AttributionError, additive, lmdi, shapley
from kpitree.errors import InternalError
from kpitree.formula import BinOp, Expr, Number, Ref, evaluate
from kpitree.spec.models.nodes import ADDITIVE_AGGREGATIONS
from kpitree.tree import Node, NodeKind


class Method(enum.StrEnum):
    ADDITIVE = "additive"  # sums, dimension splits, score composition
    LMDI = "lmdi"  # products of positive factors
    SHAPLEY = "shapley"  # any other formula


@dataclass(frozen=True)
class NodeDecomposition:
    """Contributions of the children to one node's movement, in the node's units.

    ``residual`` is the part of the movement the children do not explain: zero for a formula;
    for a measure whose branches overlap (a distinct count split by a dimension) or a comparison
    against targets that the children's targets do not add up to, the difference, shown rather
    than hidden.
    """

    method: Method | None
    contributions: Mapping[str, float]
    residual: float = 0.0
    reason: str | None = None  # why there are no contributions


def decompose(node: Node, before: Mapping[str, float | None], after: Mapping[str, float | None]) -> NodeDecomposition:
    """Decompose ``after[node] - before[node]`` over the node's children."""
    if not node.children:
        return NodeDecomposition(None, {})
    if node.measure is not None and node.measure.agg not in ADDITIVE_AGGREGATIONS:
        return NodeDecomposition(None, {}, reason=not_additive(node))
    movement_before, movement_after = before.get(node.id), after.get(node.id)
    if movement_before is None or movement_after is None:
        return NodeDecomposition(None, {}, reason=f"{node.id} has no value in one of the periods")
    missing = [c for c in node.children if before.get(c) is None or after.get(c) is None]
    if missing:
        return NodeDecomposition(None, {}, reason=f"{', '.join(missing)} has no value in one of the periods")
    children = list(node.children)
    b = [_number(before, c) for c in children]
    a = [_number(after, c) for c in children]
    movement = movement_after - movement_before
    method = choose_method(node, b, a)
    try:
        if method is Method.ADDITIVE:
            values = additive(b, a)
        elif method is Method.LMDI:
            if node.formula is None:
                raise InternalError("node.formula is missing")
            values = lmdi(b, a, _constant_factor(node.formula))
        else:
            if node.formula is None:
                raise InternalError("node.formula is missing")
            formula = node.formula
            values = shapley(lambda mixed: evaluate(formula, dict(zip(children, mixed, strict=True))).value, b, a)
    except AttributionError as exc:
        return NodeDecomposition(method, {}, reason=str(exc))
    explained = math.fsum(values)
    return NodeDecomposition(method, dict(zip(children, values, strict=True)), residual=movement - explained)


def not_additive(node: Node) -> str:
    """Why a split measure's branches get no share of its movement."""
    if node.measure is None:
        raise InternalError("node.measure is missing")
    return (
        f"a {node.measure.agg} is not the sum of its branches' {node.measure.agg}s: "
        "the branches are shown beside it, not summed to it"
    )


def choose_method(node: Node, before: Sequence[float], after: Sequence[float]) -> Method:
    if node.kind is not NodeKind.FORMULA or node.formula is None:
        return Method.ADDITIVE  # split branches, engagement types and signals add up to their parent
    if _is_sum(node.formula):
        return Method.ADDITIVE
    if _is_product(node.formula) and _lmdi_applies(before, after):
        return Method.LMDI
    return Method.SHAPLEY


def _is_sum(expr: Expr) -> bool:
    """Refs (each once) and numbers joined by +: the children's deltas add up to the movement."""
    terms = list(_flatten(expr, "+"))
    refs = [t.name for t in terms if isinstance(t, Ref)]
    return all(isinstance(t, Ref | Number) for t in terms) and len(refs) == len(set(refs)) and len(terms) > 1


def _is_product(expr: Expr) -> bool:
    """Refs (each once) and positive numbers joined by *."""
    factors = list(_flatten(expr, "*"))
    refs = [f.name for f in factors if isinstance(f, Ref)]
    numbers_positive = all(f.value > 0 for f in factors if isinstance(f, Number))
    shapes = all(isinstance(f, Ref | Number) for f in factors)
    return shapes and numbers_positive and len(refs) == len(set(refs)) and len(refs) > 1


def _constant_factor(expr: Expr) -> float:
    return math.prod(f.value for f in _flatten(expr, "*") if isinstance(f, Number))


def _lmdi_applies(before: Sequence[float], after: Sequence[float]) -> bool:
    if any(x < 0 for x in (*before, *after)):
        return False
    zero_factors = [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if b == 0 or a == 0]
    if not zero_factors:
        return True
    i = zero_factors[0]
    return len(zero_factors) == 1 and (before[i] == 0) != (after[i] == 0)


def _flatten(expr: Expr, op: str) -> list[Expr]:
    if isinstance(expr, BinOp) and expr.op == op:
        return [*_flatten(expr.left, op), *_flatten(expr.right, op)]
    return [expr]  # anything else (a negation, a call, another operator) is one opaque term


def _number(values: Mapping[str, float | None], node_id: str) -> float:
    value = values.get(node_id)
    if value is None:
        raise InternalError("value is missing")
    return value
