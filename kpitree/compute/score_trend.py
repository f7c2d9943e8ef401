"""A trend's score points: every point in one statement that stays narrow.

:func:`~kpitree.compute.scores.plan_score_query` keeps each contact's points per signal and point:
a column per (point, signal), each a filtered sum that every signal row updates. That is what the
compared points need (the aged score, the crossings and the score change read a contact's signals),
but a trend point needs only its aggregates, and the width does not scale: twelve points of the
shipped tree are 132 such sums, which took 50 s and 3.4 GB over 19.7M signals on DuckDB where
two took 3.8 s (measured). Here the signals are read twice instead, each pass as narrow as the
points are many:

1. per contact, each point's points in all (one sum per point): the contact's score at each
   point, its band, its roll-up entity's score, and its share ``score / points``;
2. per signal kind, each point's sum of the signals' points times their contact's share at that
   point (the signals joined to pass 1 by contact): the composition summed over the contacts,
   which the count of contacts divides into the mean.

Both are exactly the per-contact definition: a contact's composition of a signal is its points of
that signal times its share, so the sum over contacts is the sum over the signal rows of the row's
points times its contact's share, whatever order the engine adds them in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from kpitree.compute.batch import SegmentFilter
from kpitree.compute.contact_scores import (
    ScorePoint,
    decayed_rows,
    non_negative,
    normalised,
    point_table,
    signal_rows,
)
from kpitree.compute.scores import ScoreQuery, aggregate_scores
from kpitree.errors import InternalError
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import Warehouse


def plan_trend_query(
    tree: MetricTree, node: Node, points: Sequence[ScorePoint], segment: SegmentFilter, warehouse: Warehouse
) -> ScoreQuery:
    """The aggregates of ``points``, as :func:`~kpitree.compute.scores.plan_score_query` returns
    them, in one statement."""
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    count = range(len(points))
    # Pass 1: each contact's points in all at each point; NULL where no signal of its is in the
    # point's window (every row's weight is a number, so a sum is NULL only over no rows).
    first = signal_rows(tree, node, points, segment, warehouse)
    decayed = decayed_rows(first, points, spec)
    roll_keys = [f"r_{e}" for e in first.roll_entities]
    totals = (
        sa.select(
            decayed.c.entity,
            *(sa.func.max(decayed.c[key]).label(key) for key in roll_keys),
            *(sa.func.sum(decayed.c[f"d{n}"]).label(f"t{n}") for n in count),
        )
        .group_by(decayed.c.entity)
        .subquery("score_totals")
    )
    # Each contact's points (negative ones as none) and score at every point, a column per point:
    # written once, read by the rows per (point, contact) and by the shares pass 2 needs.
    clamped = sa.select(totals, *(non_negative(totals.c[f"t{n}"]).label(f"p{n}") for n in count)).subquery(
        "trend_points"
    )
    wide = sa.select(clamped, *(normalised(clamped.c[f"p{n}"], spec).label(f"s{n}") for n in count)).cte("trend_scores")
    as_of = point_table(points)

    def at_point(prefix: str) -> ColumnElement[Any]:
        return sa.case(*((as_of.c.n == n, wide.c[f"{prefix}{n}"]) for n in count))

    scored = (
        sa.select(as_of.c.idx, wide.c.entity, *(wide.c[key] for key in roll_keys), at_point("s").label("score"))
        .select_from(wide.join(as_of, at_point("t").is_not(None)))
        .cte("trend_scored")
    )
    shares = sa.select(
        wide.c.entity,
        *(sa.case((wide.c[f"p{n}"] > 0, wide.c[f"s{n}"] / wide.c[f"p{n}"]), else_=0.0).label(f"f{n}") for n in count),
    ).subquery("shares")
    # Pass 2: the signals again (a second scan, not a CTE the engine would hold in memory), each
    # row's points at each point times its contact's share there, summed per kind. Every row has
    # its contact's shares, so the outer join is the inner one; written outer, it keeps DuckDB from
    # building its hash table on the 17.8M signal rows (it underestimated them after the signal
    # filter: 4.3 GB and 7.1 s for the join, against 0.5 GB for the whole statement, measured).
    again = decayed_rows(signal_rows(tree, node, points, segment, warehouse, name="signal_rows_again"), points, spec)
    by_kind = (
        sa.select(again.c.kind, *(sa.func.sum(again.c[f"d{n}"] * shares.c[f"f{n}"]).label(f"c{n}") for n in count))
        .select_from(again.outerjoin(shares, shares.c.entity == again.c.entity))
        .group_by(again.c.kind)
        .subquery("composition_by_kind")
    )
    # A row per point with a column per signal: a handful of rows (kinds by points) to turn round.
    kind_at_point = sa.case(*((as_of.c.n == n, by_kind.c[f"c{n}"]) for n in count))
    composition = (
        sa.select(
            as_of.c.idx,
            *(
                sa.func.coalesce(sa.func.sum(kind_at_point).filter(by_kind.c.kind == s.signal.signal), 0.0).label(
                    first.signal_labels[s.id]
                )
                for s in first.signals
                if s.signal
            ),
        )
        .select_from(by_kind.join(as_of, sa.true()))
        .group_by(as_of.c.idx)
        .subquery("composition")
    )
    return aggregate_scores(node, scored, first.signal_labels, first.lacking, warehouse, composition)
