"""Columns kpitree derives on a source: computed ones (``{expr: ...}``) and roll-ups
(``{rollup: ...}``), compiled with SQLAlchemy for the warehouse's engine.

A roll-up is one ``GROUP BY`` of the related source (its own ``where`` and the roll-up's applied,
over all its rows, not one period's), left-joined on the key: a parent row without related rows
has NULL (``count``: 0). A computed column is an expression over the source's other columns, its
roll-ups and other computed columns included; only the columns a computation reads are derived.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from kpitree.compute.column_types import Kind
from kpitree.compute.conditions import where_exprs
from kpitree.dialects import SqlDialect
from kpitree.errors import InternalError, WarehouseError
from kpitree.expressions import (
    Arithmetic,
    Case,
    Column,
    Comparison,
    Constant,
    Expression,
    Function,
    Logical,
    Negative,
    Not,
    ValueMap,
    columns_of,
    parse_expression,
)
from kpitree.spec.models import SourceSpec
from kpitree.spec.models.sources import RollupSpec, where_columns

SECONDS_PER = {"hours_between": 3600.0, "days_between": 86400.0}
# Builds a source's relation with the given columns: how a roll-up reads its related source.
RelationBuilder = Callable[
    [str, set[str]], tuple[FromClause, Mapping[str, ColumnElement[Any]], list[ColumnElement[bool]]]
]


def derived_names(spec: SourceSpec) -> set[str]:
    return set(spec.computed_columns()) | set(spec.rollup_columns())


def dependencies(spec: SourceSpec, names: set[str]) -> set[str]:
    """``names`` and every column their computed columns read, transitively (cycles are refused
    when the tree loads)."""
    computed = spec.computed_columns()
    found: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        if name in computed:
            pending += [column.name for column in columns_of(parse_expression(computed[name].expr))]
    return found


def derive(
    source_id: str,
    spec: SourceSpec,
    wanted: set[str],
    from_clause: FromClause,
    columns: dict[str, ColumnElement[Any]],
    kinds: dict[str, Kind],
    related: RelationBuilder,
    dialect: SqlDialect,
) -> FromClause:
    """Add the derived columns in ``wanted`` (with what they depend on) to ``columns`` and
    ``kinds``; the FROM clause with each roll-up joined."""
    for name, rollup in spec.rollup_columns().items():
        if name in wanted:
            from_clause, columns[name] = _rollup(source_id, name, rollup, from_clause, columns, related)
            kinds[name] = Kind.NUMBER if rollup.agg in ("count", "sum") else Kind.UNKNOWN
    computed = spec.computed_columns()
    done: set[str] = set()

    def build(name: str) -> None:
        if name in done or name not in computed:
            return
        expression = parse_expression(computed[name].expr)
        for column in columns_of(expression):
            build(column.name)
        columns[name] = compile_expression(expression, columns, dialect, source_id, name)
        kinds[name] = Kind.NUMBER if isinstance(expression, Arithmetic) or _is_duration(expression) else Kind.UNKNOWN
        done.add(name)

    for name in sorted(wanted & set(computed)):
        build(name)
    return from_clause


def _is_duration(expression: Expression) -> bool:
    return isinstance(expression, Function) and expression.name in SECONDS_PER


def _rollup(
    source_id: str,
    name: str,
    rollup: RollupSpec,
    from_clause: FromClause,
    columns: Mapping[str, ColumnElement[Any]],
    related: RelationBuilder,
) -> tuple[FromClause, ColumnElement[Any]]:
    ((child_key, parent_key),) = rollup.on.items()
    needed = {child_key, *where_columns(rollup.where), *([rollup.column] if rollup.column else [])}
    child_from, child_columns, child_kept = related(rollup.source, needed)
    key = child_columns[child_key]
    value: ColumnElement[Any]
    if rollup.agg == "count":
        value = sa.func.count()
    else:
        if rollup.column is None:
            raise InternalError("rollup.column is missing (validation requires it)")
        value = getattr(sa.func, rollup.agg)(child_columns[rollup.column])
    grouped = (
        sa.select(key.label("k"), value.label("v"))
        .select_from(child_from)
        .where(*child_kept, *where_exprs(child_columns, rollup.where), key.is_not(None))
        .group_by(key)
        .subquery(f"rollup_{name}")
    )
    if parent_key not in columns:
        raise WarehouseError(
            f"roll-up {name!r} of source {source_id!r} joins on {parent_key!r}, which the source does not have",
            source=source_id,
            key="columns",
        )
    joined = from_clause.outerjoin(grouped, columns[parent_key] == grouped.c.k)
    result: ColumnElement[Any] = sa.func.coalesce(grouped.c.v, 0) if rollup.agg == "count" else grouped.c.v
    return joined, result


def compile_expression(
    expression: Expression, columns: Mapping[str, ColumnElement[Any]], dialect: SqlDialect, source_id: str, name: str
) -> ColumnElement[Any]:
    """``expression`` as SQL over ``columns`` (the source's, by tree name)."""

    def go(e: Expression) -> ColumnElement[Any]:
        if isinstance(e, Column):
            if e.name not in columns:
                raise WarehouseError(
                    f"computed column {name!r} of source {source_id!r} reads {e.name!r}, "
                    "which the source does not have",
                    source=source_id,
                    key="columns",
                )
            return columns[e.name]
        if isinstance(e, Constant):
            return sa.null() if e.value is None else sa.literal(e.value)
        if isinstance(e, Arithmetic):
            left, right = go(e.left), go(e.right)
            if e.op == "/":  # a real division, and no value (not an error) for a zero divisor
                return sa.cast(left, sa.Double()) / sa.func.nullif(right, 0)
            return {"+": left + right, "-": left - right, "*": left * right}[e.op]
        if isinstance(e, Negative):
            return -go(e.operand)
        if isinstance(e, Comparison):
            return _compare(e.op, go(e.left), go(e.right), e.right)
        if isinstance(e, Logical):
            parts = [go(operand) for operand in e.operands]
            return sa.and_(*parts) if e.op == "and" else sa.or_(*parts)
        if isinstance(e, Not):
            return sa.not_(go(e.operand))
        if isinstance(e, Case):
            return sa.case(*((go(c), go(v)) for c, v in e.branches), else_=go(e.default))
        if isinstance(e, ValueMap):
            subject = go(e.subject)
            default = sa.null() if e.default is None else sa.literal(e.default)
            return sa.case(*((subject == key, sa.literal(value)) for key, value in e.pairs), else_=default)
        return _function(e, [go(arg) for arg in e.args], dialect)

    return go(expression)


def _compare(op: str, left: ColumnElement[Any], right: ColumnElement[Any], written: Expression) -> ColumnElement[Any]:
    if isinstance(written, Constant) and written.value is None:  # 'x == none' means IS NULL, as a reader expects
        return left.is_(None) if op == "==" else left.is_not(None)
    return {
        "==": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[op]


def _function(e: Function, args: list[ColumnElement[Any]], dialect: SqlDialect) -> ColumnElement[Any]:
    if e.name == "coalesce":
        return sa.func.coalesce(*args)
    if e.name == "lower":
        return sa.func.lower(args[0])
    if e.name == "date_part":
        part = e.args[0]
        if not isinstance(part, Constant):
            raise InternalError("unexpected type: not isinstance(part, Constant) (checked when parsed)")
        return dialect.date_part(str(part.value), args[1])
    start, end = args
    return (dialect.epoch_seconds(end) - dialect.epoch_seconds(start)) / SECONDS_PER[e.name]
