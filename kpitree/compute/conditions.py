"""Row conditions as SQL: a source's or measure's ``where``, a split branch's restriction, ``--where``.

``ne`` and ``not_in`` keep rows whose value is NULL, as a reader of ``kind: {ne: internal_note}``
expects (SQL alone would drop them); the catch-all ``other`` branch keeps NULL for the same reason,
so that the branches of a split always add up to their parent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from kpitree.spec.models.base import Scalar
from kpitree.spec.models.sources import ANY, FilterCondition
from kpitree.tree import BranchRestriction


def where_exprs(
    columns: Mapping[str, ColumnElement[Any]], where: Mapping[str, FilterCondition]
) -> list[ColumnElement[bool]]:
    """A where as SQL conditions (all must hold): one per column, and one OR for its 'any'."""
    conditions = [condition_expr(columns[name], cond) for name, cond in where.items() if name != ANY]
    if ANY in where:
        alternatives = [where_exprs(columns, alternative) for alternative in _alternatives(where[ANY])]
        conditions.append(sa.or_(*(sa.and_(*alternative) for alternative in alternatives)))
    return conditions


def _alternatives(condition: FilterCondition) -> list[dict[str, FilterCondition]]:
    value = condition.value
    return [a for a in value if isinstance(a, dict)] if isinstance(value, list) else []


def condition_expr(column: ColumnElement[Any], condition: FilterCondition) -> ColumnElement[bool]:
    value = condition.value
    values: list[Scalar] = [v for v in value if not isinstance(v, dict)] if isinstance(value, list) else []
    match condition.op:
        case "eq":
            return column.is_(None) if value is None else column == value
        case "ne":
            return column.is_not(None) if value is None else sa.or_(column != value, column.is_(None))
        case "in":
            return in_values(column, values)
        case "not_in":
            return sa.or_(sa.not_(in_values(column, values)), column.is_(None)) if values else sa.true()
        case "gt":
            return column > value
        case "gte":
            return column >= value
        case "lt":
            return column < value
        case "lte":
            return column <= value
        case "is_null":
            return column.is_(None) if value in (True, None) else column.is_not(None)
        case "any":
            raise AssertionError("an 'any' is a where of its own: where_exprs reads it")
    raise AssertionError(condition.op)  # pragma: no cover - FilterOp is a closed Literal


def in_values(column: ColumnElement[Any], values: Sequence[Scalar]) -> ColumnElement[bool]:
    """``column IN values``; a single value is written as ``=`` (and booleans never as IN lists,
    which some engines type-check strictly)."""
    if not values:
        return sa.false()
    if len(values) == 1:
        return column == values[0]
    return sa.or_(*(column == v for v in values)) if any(isinstance(v, bool) for v in values) else column.in_(values)


def restriction_expr(column: ColumnElement[Any], restriction: BranchRestriction) -> ColumnElement[bool]:
    if restriction.excluded is not None:
        if not restriction.excluded:
            return sa.true()
        return sa.or_(sa.not_(in_values(column, restriction.excluded)), column.is_(None))
    return in_values(column, restriction.values)
