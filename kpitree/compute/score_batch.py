"""A score node's statements for one computation: every contact scored once.

Scoring is the costly part of an engagement score (every signal of the lookback window, weighted
and decayed, per contact and point). A computation that also needs the entities that crossed a
band (a run's alerts) or the aged score (the new-activity / ageing split) would otherwise score
the same contacts again in each statement. Here, the points those share (the two compared
instants and the aged one) are scored once into a temporary table on one connection; the
aggregates, the crossings and the aged score are read from it. Other points (a trend's) are
aggregated in one statement of their own, as is everything when nothing is shared.

An engine without temporary tables, or one that refuses them (a read-only PostgreSQL
transaction), gets the same numbers from one statement each, each scoring again.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ClauseElement

from kpitree.compute.batch import SegmentFilter
from kpitree.compute.contact_scores import (
    ScorePoint,
    aged_from,
    contact_points,
    recent_point_of,
    score_contacts,
    scored_contacts,
)
from kpitree.compute.crossings import BandMove, BandWatch, crossings_statement, read_moves
from kpitree.compute.relations import computing
from kpitree.compute.scores import ScoreQuery, ScoreSummary, plan_score_query, read_score_results, run_score_query
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
    queries: tuple[ScoreQuery, ...]  # the aggregate statements (for their warnings)
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
    once = [p for p in points if p.index in shared] if watches else []
    rest = [p for p in points if p not in once]
    results: dict[int, PointResult] = {}
    queries: list[ScoreQuery] = []
    statements: list[ClauseElement] = []
    moves: list[list[BandMove]] | None = None
    if once and compared is not None:
        now = next(p for p in once if p.index == compared[0])
        # An aged point is now's points but the recent ones: it needs no scoring pass of its own.
        aged = [p for p in once if p.signals_until != p.as_of and p.as_of == now.as_of]
        plain = [p for p in once if p.signals_until == p.as_of]
        rest += [p for p in once if p not in aged and p not in plain]
        points_rows, labels, lacking = contact_points(tree, node, plain, segment, warehouse)
        with (
            warehouse.reading(computing(tree, spec.source, [node.id]), source=spec.source, node=node.id) as connection,
            temporary_table(connection, points_rows.select(), "kpitree_scores") as table,
        ):
            if table is not None:
                statements.append(CreateTemporaryTableAs(table.name, points_rows.select()))
                parts: list[Any] = [sa.select(table)]
                for point in aged:
                    recent, _labels, _lacking = contact_points(tree, node, [recent_point_of(point)], segment, warehouse)
                    parts.append(aged_from(table, recent, now.index, point.index, labels, spec))
                every = sa.union_all(*parts).subquery("every_point") if len(parts) > 1 else table
                asked = [*plain, *aged]
                query = plan_score_query(
                    tree, node, asked, segment, warehouse, (score_contacts(every, labels, spec), labels, lacking)
                )
                found = read_score_results(tree, query, asked, connection.execute(query.statement).mappings())
                results.update((p.index, r) for p, r in zip(asked, found, strict=True))
                queries.append(query)
                statement = crossings_statement(
                    tree, node, watches, score_contacts(table, labels, spec), warehouse, *compared
                )
                moves = read_moves(node, watches, connection.execute(statement).mappings())
                statements += [query.statement, statement]
        if table is None:  # no temporary table here: the crossings score on their own
            rest = list(points)
            compared_points = [p for p in points if p.index in compared]
            scored, _labels, _lacking = scored_contacts(tree, node, compared_points, segment, warehouse)
            statement = crossings_statement(tree, node, watches, scored, warehouse, *compared)
            with warehouse.reading(
                computing(tree, spec.source, [node.id]), source=spec.source, node=node.id
            ) as connection:
                moves = read_moves(node, watches, connection.execute(statement).mappings())
            statements.append(statement)
    if rest:
        query = plan_score_query(tree, node, rest, segment, warehouse)
        results.update((p.index, r) for p, r in zip(rest, run_score_query(tree, query, rest, warehouse), strict=True))
        queries.append(query)
        statements.append(query.statement)
    if watches and moves is None:
        raise InternalError("the band moves asked for were not read")
    return ScoreAnswer(results, tuple(queries), tuple(statements), moves)
