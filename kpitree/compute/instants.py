"""Point-in-time sources (``valid_from`` / ``valid_to``): the rows that hold at an instant.

A row holds at instant ``t`` when ``valid_from <= t < valid_to`` (``valid_to`` NULL: it still
holds). A measure asks for the instant its period opens (``at: start``) or closes (``at: end``),
the period's bounds in the tree's timezone; with a ``cohort`` it keeps only the rows of entities
that held at the cohort's instant of the same period: retention is the customers at the end among
those at the start.

For each period of the batch the source's rows that hold at either of its instants are selected
once (the union of the periods' selections is what the measures aggregate, grouped by period),
each row flagged with where it holds and whether its entity is in each cohort, so one statement
still computes every measure on the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from kpitree.compute.batch import PeriodWindow, SegmentFilter
from kpitree.compute.column_types import Kind
from kpitree.compute.relations import SourceRelation, build_relation, needed_columns
from kpitree.errors import InternalError
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import Warehouse

PERIOD = "_period"
INSTANTS = ("start", "end")


def holds_label(at: str) -> str:
    return f"_holds_{at}"


def cohort_label(entity: str, at: str) -> str:
    return f"_cohort_{entity}_{at}"


def point_in_time_rows(
    tree: MetricTree,
    source_id: str,
    nodes: Sequence[Node],
    used: set[str],
    batch: Sequence[PeriodWindow],
    segment: SegmentFilter,
    warehouse: Warehouse,
) -> Select[Any]:
    """One row per (period, source row holding at one of the period's instants), flagged."""
    spec = tree.sources[source_id]
    cohorts = sorted({(n.measure.cohort.entity, n.measure.cohort.at) for n in nodes if n.measure and n.measure.cohort})
    selections = []
    for window in batch:
        relation = build_relation(tree, source_id, needed_columns(spec, used), warehouse)
        segment_conditions, _ = segment.conditions(relation)
        instants = {at: _instant(window, at) for at in INSTANTS}
        holds = {at: _holds(relation, *instants[at]) for at in INSTANTS}
        flags: list[ColumnElement[Any]] = [_flag(holds[at]).label(holds_label(at)) for at in INSTANTS]
        for entity, at in cohorts:
            members = _members(tree, source_id, entity, used, instants[at], segment, warehouse)
            flags.append(_flag(relation.column(entity).in_(members)).label(cohort_label(entity, at)))
        selections.append(
            sa.select(
                *(relation.column(name).label(name) for name in sorted(used)),
                sa.literal(window.index).label(PERIOD),
                *flags,
            )
            .select_from(relation.from_clause)
            .where(*relation.keep_rows(), *segment_conditions, sa.or_(*holds.values()))
        )
    return selections[0] if len(selections) == 1 else sa.union_all(*selections)  # type: ignore[return-value]


def _instant(window: PeriodWindow, at: str) -> tuple[datetime, date]:
    return (window.start, window.period.start) if at == "start" else (window.end, window.period.end)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """A condition as 1 or 0: the same on every engine (SQLite has no booleans)."""
    return sa.case((condition, 1), else_=0)


def _holds(relation: SourceRelation, instant: datetime, day: date) -> ColumnElement[bool]:
    spec = relation.spec
    if spec.valid_from is None:
        raise InternalError("spec.valid_from is missing")
    if spec.valid_to is None:
        raise InternalError("spec.valid_to is missing")
    start = _comparable(relation, spec.valid_from)
    end = _comparable(relation, spec.valid_to)
    at = _bound(relation, spec.valid_from, instant, day)
    return sa.and_(start <= at, sa.or_(end.is_(None), at < end))


def _comparable(relation: SourceRelation, name: str) -> ColumnElement[Any]:
    return relation.dialect.comparable_time(relation.column(name), relation.kind(name) is Kind.DATE)


def _bound(relation: SourceRelation, name: str, instant: datetime, day: date) -> Any:
    """The instant as a literal for the column: the local day for DATE columns, else UTC."""
    return relation.dialect.time_bound(instant.astimezone(UTC), day, relation.kind(name) is Kind.DATE)


def _members(
    tree: MetricTree,
    source_id: str,
    entity: str,
    used: set[str],
    instant: tuple[datetime, date],
    segment: SegmentFilter,
    warehouse: Warehouse,
) -> Select[Any]:
    """The entities with a row holding at ``instant`` (the source's own filters and the segment's
    applied), as an uncorrelated subquery."""
    relation = build_relation(tree, source_id, needed_columns(tree.sources[source_id], used | {entity}), warehouse)
    segment_conditions, _ = segment.conditions(relation)
    return (
        sa.select(relation.column(entity))
        .select_from(relation.from_clause)
        .where(*relation.keep_rows(), *segment_conditions, _holds(relation, *instant))
        .correlate(None)
    )
