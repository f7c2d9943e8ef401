"""Each entity's decayed signal counts as of one instant, computed in the warehouse.

One statement per as-of: for every contact with a signal in the lookback window before ``as_of``
(and none after it: a back-test must not see the future), the sum of each signal's decay, at each
half-life of the grid, with the score's decay mode (x quantity for ``use_quantity`` signals). The
score itself is ``normalise(sum of weight x count)`` at the tree's own half-life, so the current
score and any suggested weights are scored from the same numbers. Only these per-contact
aggregates come back to Python: the rows stay in the warehouse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from kpitree.compute.relations import build_relation, computing, needed_columns
from kpitree.compute.scores import DAY_SECONDS
from kpitree.scoring import normalise
from kpitree.spec.models import ScoreSpec
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import Warehouse


@dataclass(frozen=True)
class ScoreSignal:
    node_id: str  # the signal node
    signal: str  # the value in the signal column
    weight: float
    use_quantity: bool


def weighted_signals(tree: MetricTree, node: Node) -> tuple[ScoreSignal, ...]:
    """The score node's signals, in tree order, with their current weights."""
    spec = node.score
    assert spec is not None
    found = []
    for type_id in node.children:
        for signal_id in tree.nodes[type_id].children:
            signal = tree.nodes[signal_id].signal
            if signal is not None:
                found.append(ScoreSignal(signal_id, signal.signal, signal.weight, signal.use_quantity))
    return tuple(found)


@dataclass(frozen=True)
class EntityCounts:
    """One contact's decayed counts: half-life -> signal node id -> count."""

    contact: str
    account: str | None
    counts: Mapping[float, Mapping[str, float]]


def decayed_counts(
    tree: MetricTree,
    node: Node,
    as_of: datetime,
    half_lives: Sequence[float],
    warehouse: Warehouse,
    account_column: str | None,
) -> list[EntityCounts]:
    """Every contact's decayed signal counts as of ``as_of``, at each half-life."""
    spec = node.score
    assert spec is not None
    signals = weighted_signals(tree, node)
    used = {spec.entity, spec.signal_column, *([account_column] if account_column else [])}
    if spec.quantity_column:
        used.add(spec.quantity_column)
    relation = build_relation(tree, spec.source, needed_columns(tree.sources[spec.source], used), warehouse)
    seconds = relation.epoch_seconds()
    as_of_seconds = as_of.timestamp()
    age_days = (sa.literal(as_of_seconds, sa.Double()) - seconds) / DAY_SECONDS
    kind = relation.column(spec.signal_column)
    amount: ColumnElement[Any] = sa.literal(1.0)
    quantity_signals = [s.signal for s in signals if s.use_quantity]
    if quantity_signals and spec.quantity_column:
        quantity = sa.func.coalesce(relation.column(spec.quantity_column), 1.0)
        amount = sa.case((kind.in_(quantity_signals), quantity), else_=1.0)
    columns = []
    labels: dict[tuple[float, str], str] = {}
    for h_index, half_life in enumerate(half_lives):
        halvings = age_days / half_life
        decay = sa.func.power(0.5, sa.func.floor(halvings) if spec.decay.mode == "step" else halvings)
        for s_index, signal in enumerate(signals):
            label = f"c{h_index}_{s_index}"
            labels[(half_life, signal.node_id)] = label
            counted = sa.func.sum(sa.case((kind == signal.signal, amount * decay)))
            columns.append(sa.func.coalesce(counted, 0.0).label(label))
    entity = relation.column(spec.entity)
    account = sa.func.max(relation.column(account_column)) if account_column else sa.null()
    earliest = as_of - timedelta(days=spec.lookback_days)
    statement = (
        sa.select(entity.label("entity"), account.label("account"), *columns)
        .select_from(relation.from_clause)
        .where(
            entity.is_not(None),
            kind.in_([s.signal for s in signals]),
            seconds <= as_of_seconds,
            seconds >= as_of_seconds - spec.lookback_days * DAY_SECONDS,
            relation.time >= relation.bound(earliest - timedelta(days=1), earliest.date() - timedelta(days=1)),
            *relation.keep_rows(),
        )
        .group_by(entity)
    )
    with warehouse.reading(f"back-testing {computing(tree, spec.source, [node.id])}", source=spec.source) as connection:
        rows = connection.execute(statement).mappings().all()
    return [
        EntityCounts(
            str(row["entity"]),
            str(row["account"]) if row["account"] is not None else None,
            {h: {s.node_id: float(row[labels[(h, s.node_id)]]) for s in signals} for h in half_lives},
        )
        for row in rows
    ]


def score_of(counts: Mapping[str, float], weights: Mapping[str, float], spec: ScoreSpec) -> float:
    """The 0-100 score from decayed counts and weights, as :mod:`kpitree.scoring` defines it."""
    return normalise(sum(weights.get(s, 0.0) * c for s, c in counts.items()), spec.normalisation)
