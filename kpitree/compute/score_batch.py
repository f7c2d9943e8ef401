"""A score node's statements for one computation: every contact scored once.

Scoring is the costly part of an engagement score (every signal of the lookback window, weighted
and decayed, per contact and point). The compared points are scored in one pass; the aged score
(the new-activity / ageing split) is derived from the current point's per-contact points minus
the recent week's, not scored again. When the band crossings are asked for too (a run's alerts),
the per-contact points go into a temporary table on one connection, and the aggregates and the
crossings read it; otherwise they are a CTE of the one aggregate statement. Other points (a
trend's) need only their aggregates: :mod:`kpitree.compute.score_trend` scores them in a narrow
statement, up to the dialect's ``trend_points_per_statement`` each.

An engine without temporary tables, or one that refuses them (a read-only PostgreSQL session),
gets the same numbers with the crossings' statement scoring again (the same CTE in it).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ClauseElement

from kpitree.compute.batch import SegmentFilter
from kpitree.compute.contact_scores import (
    ScorePoint,
    aged_from,
    contact_points,
    recent_point_of,
    score_contacts,
)
from kpitree.compute.crossings import BandMove, BandWatch, crossings_statement, read_moves
from kpitree.compute.relations import computing
from kpitree.compute.score_trend import plan_trend_query
from kpitree.compute.scores import ScoreSummary, plan_score_query, read_score_results, run_score_query
from kpitree.compute.values import NodeValue
from kpitree.errors import InternalError
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import CreateTemporaryTableAs, Warehouse, temporary_table

Watches = Sequence[tuple[BandWatch, Collection[str]]]  # (what a rule looks for, entities firing before)
PointResult = tuple[dict[str, NodeValue], ScoreSummary]


@dataclass(frozen=True)
class ScoreAnswer:
    """What a computation learned of one score node."""

    results: dict[int, PointResult]  # point index -> the node's values and band summary there
    unfiltered_dims: tuple[str, ...]  # segment dimensions the node's source lacks (for the warning)
    statements: tuple[ClauseElement, ...]  # every statement run, in order (for --show-sql)
    moves: list[list[BandMove]] | None  # per watch asked, the entities that moved; None: none asked


def answer_score(
    tree: MetricTree,
    node: Node,
    points: Sequence[ScorePoint],
    segment: SegmentFilter,
    warehouse: Warehouse,
    *,
    shared: Collection[int] = (),
    compared: tuple[int, int] | None = None,
    watches: Watches = (),
) -> ScoreAnswer:
    """The node's aggregates at each of ``points``, and the band moves of ``watches`` between the
    ``compared`` points (now, before). ``shared``: the indexes of the points more than one
    statement reads (the compared ones, the aged one), scored once when the engine allows."""
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    if watches and compared is None:
        raise InternalError("band moves need the compared points")
    plain = [p for p in points if p.index in shared and p.signals_until == p.as_of]
    now = next((p for p in plain if compared is not None and p.index == compared[0]), None)
    # An aged point is now's points but the recent ones: it needs no scoring pass of its own.
    aged = [p for p in points if p.index in shared and now is not None and p not in plain and p.as_of == now.as_of]
    rest = [p for p in points if p not in plain and p not in aged]
    results: dict[int, PointResult] = {}
    statements: list[ClauseElement] = []
    moves: list[list[BandMove]] | None = None
    unfiltered: tuple[str, ...] = ()
    if plain:
        with warehouse.reading(computing(tree, spec.source, [node.id]), source=spec.source, node=node.id) as connection:
            shared_answer = _answer_shared(
                tree, node, plain, aged, now, segment, warehouse, connection, compared, watches
            )
        results.update(shared_answer.results)
        statements += shared_answer.statements
        moves, unfiltered = shared_answer.moves, shared_answer.unfiltered_dims
    # The other points (a trend's) need only their aggregates: the narrow statement of
    # score_trend, up to the dialect's number of points each (its memory grows with them).
    per_statement = warehouse.dialect.trend_points_per_statement
    for start in range(0, len(rest), per_statement):
        chunk = rest[start : start + per_statement]
        query = plan_trend_query(tree, node, chunk, segment, warehouse)
        found = run_score_query(tree, query, chunk, warehouse)
        results.update((p.index, r) for p, r in zip(chunk, found, strict=True))
        statements.append(query.statement)
        unfiltered = query.unfiltered_dims
    if watches and moves is None:
        raise InternalError("the band moves asked for were not read")
    return ScoreAnswer(results, unfiltered, tuple(statements), moves)


def _answer_shared(
    tree: MetricTree,
    node: Node,
    plain: Sequence[ScorePoint],
    aged: Sequence[ScorePoint],
    now: ScorePoint | None,
    segment: SegmentFilter,
    warehouse: Warehouse,
    connection: Connection,
    compared: tuple[int, int] | None,
    watches: Watches,
) -> ScoreAnswer:
    """The shared points' aggregates (the aged ones derived), and the crossings when asked, from
    the same per-contact points: a temporary table when there are crossings to read it too (a
    CTE in each statement where the engine refuses one), else a CTE of the one statement."""
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    points_rows, labels, lacking = contact_points(tree, node, plain, segment, warehouse)
    statements: list[ClauseElement] = []
    with temporary_table(connection, points_rows.select(), "kpitree_scores") if watches else nullcontext() as table:
        base: Any = table if table is not None else points_rows.element.cte("contact_points")
        if table is not None:
            statements.append(CreateTemporaryTableAs(table.name, points_rows.select()))
        parts: list[Any] = [sa.select(base)]
        for point in aged:
            if now is None:
                raise InternalError("an aged point without the current one")
            recent, _labels, _lacking = contact_points(tree, node, [recent_point_of(point)], segment, warehouse)
            parts.append(aged_from(base, recent, now.index, point.index, labels, spec))
        every = sa.union_all(*parts).subquery("every_point") if len(parts) > 1 else base
        asked = [*plain, *aged]
        query = plan_score_query(
            tree, node, asked, segment, warehouse, (score_contacts(every, labels, spec), labels, lacking)
        )
        found = read_score_results(tree, query, asked, connection.execute(query.statement).mappings())
        statements.append(query.statement)
        moves = None
        if watches and compared is not None:
            statement = crossings_statement(
                tree, node, watches, score_contacts(base, labels, spec), warehouse, *compared
            )
            moves = read_moves(node, watches, connection.execute(statement).mappings())
            statements.append(statement)
    results = {p.index: r for p, r in zip(asked, found, strict=True)}
    return ScoreAnswer(results, query.unfiltered_dims, tuple(statements), moves)
