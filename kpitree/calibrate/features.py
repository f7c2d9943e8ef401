"""Each entity's decayed signal counts as of an instant, computed in the warehouse.

One statement per as-of: for every contact with a signal in the lookback window before ``as_of``
(and none after it: a back-test must not see the future), the sum of each signal's decay, at each
half-life of the grid, with the score's decay mode (x quantity for ``use_quantity`` signals). The
score itself is ``normalise(sum of weight x count)`` at the tree's own half-life, so the current
score and any suggested weights are scored from the same numbers. Only these aggregates, one row
per (contact, signal), come back to Python, as arrays; the signal rows stay in the warehouse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.sql.elements import ColumnElement

from kpitree.compute.contact_scores import DAY_SECONDS
from kpitree.compute.relations import build_relation, computing, needed_columns
from kpitree.dialects import dialect_for
from kpitree.errors import InternalError
from kpitree.spec.models import ScoreSpec
from kpitree.spec.models.nodes import NormalisationSpec
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import Warehouse

Floats = NDArray[np.float64]
FETCH_ROWS = 20_000  # rows turned into Python values at a time, on warehouses other than DuckDB


@dataclass(frozen=True)
class ScoreSignal:
    node_id: str  # the signal node
    signal: str  # the value in the signal column
    weight: float
    use_quantity: bool


def weighted_signals(tree: MetricTree, node: Node) -> tuple[ScoreSignal, ...]:
    """The score node's signals, in tree order, with their current weights."""
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    found = []
    for type_id in node.children:
        for signal_id in tree.nodes[type_id].children:
            signal = tree.nodes[signal_id].signal
            if signal is not None:
                found.append(ScoreSignal(signal_id, signal.signal, signal.weight, signal.use_quantity))
    return tuple(found)


@dataclass(frozen=True, eq=False)
class DecayedCounts:
    """Every scored contact's decayed counts: ``values[contact, half_life, signal]``, in the order of
    ``contacts``, ``half_lives`` and ``signals`` (signal node ids)."""

    contacts: tuple[str, ...]
    accounts: tuple[str | None, ...]
    half_lives: tuple[float, ...]
    signals: tuple[str, ...]
    values: Floats


def decayed_counts(
    tree: MetricTree,
    node: Node,
    as_of: datetime,
    half_lives: Sequence[float],
    warehouse: Warehouse,
    account_column: str | None,
) -> DecayedCounts:
    """Every contact's decayed signal counts as of ``as_of``, at each half-life."""
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
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
    entity = relation.column(spec.entity)
    earliest = as_of - timedelta(days=spec.lookback_days)
    # One row per (contact, signal) with a sum per half-life, ordered by contact; the pivot to one
    # row per contact is done here, on arrays. Pivoting in SQL (a CASE per signal and half-life,
    # 77 aggregates on the shipped score) cost four times the aggregation itself on DuckDB, and
    # numbering contacts by their ids in Python more than the ORDER BY.
    decays = []
    for h_index, half_life in enumerate(half_lives):
        halvings = age_days / half_life
        decay = sa.func.power(0.5, sa.func.floor(halvings) if spec.decay.mode == "step" else halvings)
        decays.append(sa.func.sum(amount * decay).label(f"d{h_index}"))
    account = sa.func.max(relation.column(account_column)) if account_column else sa.null()
    first_column: dict[str, int] = {}
    for index, signal in enumerate(signals):
        first_column.setdefault(signal.signal, index)
    column = sa.case(first_column, value=kind)  # the signal's column in the counts, as a number
    statement = (
        sa.select(entity.label("entity"), column.label("kind"), account.label("account"), *decays)
        .select_from(relation.from_clause)
        .where(
            entity.is_not(None),
            kind.in_([s.signal for s in signals]),
            seconds <= as_of_seconds,
            seconds >= as_of_seconds - spec.lookback_days * DAY_SECONDS,
            relation.time >= relation.bound(earliest - timedelta(days=1), earliest.date() - timedelta(days=1)),
            *relation.keep_rows(),
        )
        .group_by(entity, kind)
        .order_by(entity)  # a contact's rows side by side: numbered without hashing its id
    )
    with warehouse.reading(f"back-testing {computing(tree, spec.source, [node.id])}", source=spec.source) as connection:
        fetched = _fetch(connection.execute(statement), len(half_lives))
    return _pivot(fetched, tuple(half_lives), signals)


@dataclass(frozen=True, eq=False)
class _Long:
    """The statement's rows as columns, ordered by contact: per (contact, signal), the signal's
    column and the decayed sums per half-life."""

    entities: NDArray[np.object_]
    kinds: NDArray[np.int64]
    accounts: NDArray[np.object_]
    sums: Floats  # rows x half-lives


def _fetch(result: sa.CursorResult[Any], half_lives: int) -> _Long:
    """DuckDB hands the columns over as numpy arrays; other warehouses row by row, in chunks."""
    if dialect_for(result.dialect.name).fetches_numpy:
        arrays = result.cursor.fetchnumpy()
        count = len(arrays["entity"])
        sums = [np.asarray(arrays[f"d{h}"], dtype=np.float64) for h in range(half_lives)]
        return _Long(
            np.asarray(arrays["entity"], dtype=object),
            np.asarray(arrays["kind"], dtype=np.int64),
            np.asarray(np.ma.filled(arrays["account"], None), dtype=object),
            np.column_stack(sums) if count and sums else np.zeros((count, half_lives)),
        )
    rows: list[Any] = []
    for part in result.partitions(FETCH_ROWS):
        rows += part
    return _Long(
        np.array([row[0] for row in rows], dtype=object),
        np.array([row[1] for row in rows], dtype=np.int64),
        np.array([row[2] for row in rows], dtype=object),
        np.array([row[3:] for row in rows], dtype=np.float64).reshape(len(rows), half_lives),
    )


def _pivot(long: _Long, half_lives: tuple[float, ...], signals: Sequence[ScoreSignal]) -> DecayedCounts:
    """One row per contact, its sums placed under each signal's column."""
    new_contact = np.ones(len(long.entities), dtype=np.bool_)  # the first row of each contact
    new_contact[1:] = long.entities[1:] != long.entities[:-1]
    starts = np.flatnonzero(new_contact)
    rows = np.cumsum(new_contact) - 1
    values = np.zeros((len(starts), len(half_lives), len(signals)))
    values[rows, :, long.kinds] = long.sums  # one row per (contact, signal): no two land in one cell
    first: dict[str, int] = {}
    for index, signal in enumerate(signals):  # two signal nodes counting one value share its counts
        if first.setdefault(signal.signal, index) != index:
            values[:, :, index] = values[:, :, first[signal.signal]]
    contacts = tuple(str(e) for e in long.entities[starts].tolist())
    accounts = tuple(None if a is None else str(a) for a in long.accounts[starts].tolist())
    return DecayedCounts(contacts, accounts, half_lives, tuple(s.node_id for s in signals), values)


def scores_of(counts: Floats, weights: Floats, spec: ScoreSpec) -> Floats:
    """The 0-100 score of each row of decayed counts (contacts x signals) under ``weights``, as
    :func:`kpitree.scoring.normalise` defines it."""
    return normalise_points(counts @ weights, spec.normalisation)


def normalise_points(points: Floats, spec: NormalisationSpec) -> Floats:
    """:func:`kpitree.scoring.normalise` on an array of raw points (the compute path keeps the
    scalar one, without numpy)."""
    points = np.maximum(points, 0.0)
    if spec.method == "clip":
        return np.asarray(np.minimum(points, spec.max_points) * 100.0 / spec.max_points, dtype=np.float64)
    return np.asarray(np.minimum(100.0 * np.log1p(points) / np.log1p(spec.max_points), 100.0), dtype=np.float64)
