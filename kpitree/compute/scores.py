"""Engagement scores in SQL, as :mod:`kpitree.scoring` defines them.

One statement per score node and period batch. For every period the score is taken as of the
period's end: each contact's signals in the lookback window are weighted and decayed in the
warehouse, summed per contact, normalised to 0-100 and banded; the statement returns only
aggregates per period:

* the score node: the mean score of the contacts with a weighted signal in the window;
* each signal node: the mean of that signal's share of the score (its composition), and each
  engagement type: the sum of its signals. So types add up to the score, and signals to their type;
* the share of contacts in each band, and of each roll-up entity (accounts) in each band.

Per-contact scores stay in the warehouse (:func:`score_rows` builds the statement that lists them,
for the alerts that need them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from kpitree.compute.batch import PeriodWindow, SegmentFilter, source_offers
from kpitree.compute.relations import build_relation, computing, needed_columns
from kpitree.compute.values import NodeValue
from kpitree.errors import InternalError, WarehouseError
from kpitree.spec.models import BandSpec, ScoreSpec
from kpitree.spec.models.base import Scalar
from kpitree.tree import MetricTree, Node, NodeKind
from kpitree.warehouse import Warehouse

DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class ScorePoint:
    """When a score is taken (``as_of``) and the last instant whose signals count.

    A period's score counts every signal up to the period's end. The *aged* score counts only the
    signals up to the comparison period's end, decayed to this period's end: what the passing of
    time alone did to the score (:mod:`kpitree.analysis.score_change`). The days are the local
    dates of the same instants, for sources whose time column is a date.
    """

    index: int
    as_of: datetime
    as_of_day: date
    signals_until: datetime
    signals_until_day: date


def point_of(index: int, window: PeriodWindow) -> ScorePoint:
    """A period's score: as of its end, counting every signal up to then."""
    return ScorePoint(index, window.end, window.period.end, window.end, window.period.end)


def score_points(batch: Sequence[PeriodWindow]) -> tuple[ScorePoint, ...]:
    return tuple(point_of(w.index, w) for w in batch)


def aged_point(index: int, current: PeriodWindow, compare: PeriodWindow) -> ScorePoint:
    """The score at ``current``'s end from the signals up to ``compare``'s end only."""
    return ScorePoint(index, current.end, current.period.end, compare.end, compare.period.end)


@dataclass(frozen=True)
class RollUpSummary:
    entity: str
    count: int
    mean_score: float | None
    band_shares: Mapping[str, float]


@dataclass(frozen=True)
class ScoreSummary:
    """What a score node adds to its value: how the population spreads over the bands."""

    contacts: int
    band_shares: Mapping[str, float]  # band name -> share of contacts, 0..1
    roll_ups: tuple[RollUpSummary, ...]


@dataclass(frozen=True)
class ScoreQuery:
    node_id: str
    statement: Select[Any]
    signal_labels: Mapping[str, str]  # signal node id -> result column
    band_labels: Mapping[str, str]
    roll_up_labels: Mapping[str, tuple[str, str, Mapping[str, str]]]  # entity -> (count, mean, band labels)
    unfiltered_dims: tuple[str, ...]


def score_nodes(tree: MetricTree) -> list[Node]:
    return [node for node in tree.nodes.values() if node.kind is NodeKind.SCORE]


def signal_label(signal_id: str) -> str:
    """The result column holding a signal's composition."""
    return f"s_{signal_id}"


def _signal_nodes(tree: MetricTree, score_node: Node) -> list[Node]:
    return [tree.nodes[s] for t in score_node.children for s in tree.nodes[t].children]


def scored_contacts(
    tree: MetricTree,
    node: Node,
    points: Sequence[ScorePoint],
    segment: SegmentFilter,
    warehouse: Warehouse,
    only: Mapping[str, Scalar] | None = None,
) -> tuple[Any, dict[str, str], list[str]]:
    """Subquery: one row per (point, contact) with points, score and each signal's composition.

    ``only`` keeps the rows whose columns hold these values (one contact, or one account's contacts).
    """
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    signals = _signal_nodes(tree, node)
    dims = set(segment.values) & source_offers(tree, spec.source)
    roll_entities = [r.entity for r in spec.roll_up]
    used = {spec.entity, spec.signal_column, *roll_entities, *dims, *(only or {})}
    if spec.quantity_column:
        used.add(spec.quantity_column)
    relation = build_relation(tree, spec.source, needed_columns(tree.sources[spec.source], used), warehouse)
    segment_conditions, lacking = segment.conditions(relation)

    # Only a batch with an aged point needs its own signal cut-off: without one, every compute
    # statement keeps the shape the benchmarks measured.
    cut = any(p.signals_until != p.as_of for p in points)
    as_of = sa.union_all(
        *(
            sa.select(
                sa.literal(p.index).label("idx"),
                sa.literal(p.as_of.timestamp(), sa.Double()).label("as_of"),
                *([sa.literal(p.signals_until.timestamp(), sa.Double()).label("until")] if cut else []),
            )
            for p in points
        )
    ).subquery("as_of")
    seconds = relation.epoch_seconds()
    until = as_of.c.until if cut else as_of.c.as_of
    window = sa.and_(seconds <= until, seconds >= as_of.c.as_of - spec.lookback_days * DAY_SECONDS)
    earliest = min(points, key=lambda p: p.as_of)
    latest = max(points, key=lambda p: p.signals_until)
    prune = [
        relation.time >= relation.bound(earliest.as_of - timedelta(days=spec.lookback_days + 1), earliest.as_of_day),
        relation.time <= relation.bound(latest.signals_until, latest.signals_until_day),
    ]
    age_days = (as_of.c.as_of - seconds) / DAY_SECONDS
    halvings = age_days / spec.decay.half_life_days
    decay = sa.func.power(0.5, sa.func.floor(halvings) if spec.decay.mode == "step" else halvings)
    kind = relation.column(spec.signal_column)
    signal_labels = {s.id: signal_label(s.id) for s in signals}
    # Points per row, with one CASE for the weight and the decay computed once; then one
    # aggregation per (period, contact) that spreads the points into a column per signal.
    # (Grouping by signal type first, then pivoting, doubles the time on DuckDB: measured.)
    weight = sa.case(*((kind == s.signal.signal, s.signal.weight) for s in signals if s.signal), else_=0.0)
    amount: ColumnElement[Any] = sa.literal(1.0)
    quantity_signals = [s.signal.signal for s in signals if s.signal and s.signal.use_quantity]
    if quantity_signals and spec.quantity_column:
        quantity = sa.func.coalesce(relation.column(spec.quantity_column), 1.0)
        amount = sa.case((kind.in_(quantity_signals), quantity), else_=1.0)
    entity = relation.column(spec.entity)
    weighted = (
        sa.select(
            as_of.c.idx,
            entity.label("entity"),
            kind.label("kind"),
            *(relation.column(e).label(f"r_{e}") for e in roll_entities),
            (weight * amount * decay).label("points"),
        )
        .select_from(relation.from_clause.join(as_of, window))
        .where(
            kind.in_([s.signal.signal for s in signals if s.signal]),
            entity.is_not(None),
            *relation.keep_rows(),
            *segment_conditions,
            *(relation.column(column) == value for column, value in (only or {}).items()),
            *prune,
        )
        .subquery("weighted")
    )
    per_contact = (
        sa.select(
            weighted.c.idx,
            weighted.c.entity,
            *(sa.func.max(weighted.c[f"r_{e}"]).label(f"r_{e}") for e in roll_entities),
            *(
                sa.func.coalesce(sa.func.sum(weighted.c.points).filter(weighted.c.kind == s.signal.signal), 0.0).label(
                    signal_labels[s.id]
                )
                for s in signals
                if s.signal
            ),
        )
        .group_by(weighted.c.idx, weighted.c.entity)
        .subquery("per_contact")
    )
    # Layered so that each expression is written once: points, then score, then composition.
    raw_points = sum((per_contact.c[label] for label in signal_labels.values()), sa.literal(0.0))
    with_points = sa.select(per_contact, sa.case((raw_points < 0, 0.0), else_=raw_points).label("points")).subquery(
        "with_points"
    )
    with_score = sa.select(with_points, _normalise(with_points.c.points, spec).label("score")).subquery("with_score")
    share = sa.case((with_score.c.points > 0, with_score.c.score / with_score.c.points), else_=0.0)
    scored = sa.select(
        with_score.c.idx,
        with_score.c.entity,
        *(with_score.c[f"r_{e}"] for e in roll_entities),
        with_score.c.score,
        *((with_score.c[label] * share).label(label) for label in signal_labels.values()),
    ).cte("scored")
    return scored, signal_labels, lacking


def plan_score_query(
    tree: MetricTree, node: Node, points: Sequence[ScorePoint], segment: SegmentFilter, warehouse: Warehouse
) -> ScoreQuery:
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    scored, signal_labels, lacking = scored_contacts(tree, node, points, segment, warehouse)
    band_labels = {band.name: f"b{i}" for i, band in enumerate(spec.bands)}
    contacts = (
        sa.select(
            scored.c.idx,
            sa.func.count().label("n"),
            sa.func.avg(scored.c.score).label("mean_score"),
            *(sa.func.avg(scored.c[label]).label(label) for label in signal_labels.values()),
            *_band_shares(scored.c.score, spec.bands, band_labels),
        )
        .group_by(scored.c.idx)
        .subquery("contacts")
    )
    columns: list[Any] = [contacts]
    from_clause: Any = contacts
    roll_up_labels: dict[str, tuple[str, str, Mapping[str, str]]] = {}
    for i, roll_up in enumerate(spec.roll_up):
        key = scored.c[f"r_{roll_up.entity}"]
        entity_scores = (
            sa.select(scored.c.idx, _roll_up(scored.c.score, roll_up.method, warehouse).label("score"))
            .where(key.is_not(None))
            .group_by(scored.c.idx, key)
            .subquery(f"entities_{i}")
        )
        labels = {band.name: f"u{i}_b{j}" for j, band in enumerate(spec.bands)}
        rolled = (
            sa.select(
                entity_scores.c.idx.label(f"u{i}_idx"),
                sa.func.count().label(f"u{i}_n"),
                sa.func.avg(entity_scores.c.score).label(f"u{i}_mean"),
                *_band_shares(entity_scores.c.score, spec.bands, labels),
            )
            .group_by(entity_scores.c.idx)
            .subquery(f"rolled_{i}")
        )
        from_clause = from_clause.outerjoin(rolled, rolled.c[f"u{i}_idx"] == contacts.c.idx)
        columns.append(rolled)
        roll_up_labels[roll_up.entity] = (f"u{i}_n", f"u{i}_mean", labels)
    statement = sa.select(*columns).select_from(from_clause)
    return ScoreQuery(node.id, statement, signal_labels, band_labels, roll_up_labels, tuple(sorted(lacking)))


def run_score_query(
    tree: MetricTree, query: ScoreQuery, points: Sequence[ScorePoint], warehouse: Warehouse
) -> list[tuple[dict[str, NodeValue], ScoreSummary]]:
    """Values of the score node, its types and signals, and the band summary, per point."""
    source = tree.nodes[query.node_id].score
    source_id = source.source if source else ""
    with warehouse.reading(
        computing(tree, source_id, [query.node_id]), source=source_id, node=query.node_id
    ) as connection:
        rows = {row["idx"]: row for row in connection.execute(query.statement).mappings()}
    node = tree.nodes[query.node_id]
    results = []
    for point in points:
        row = rows.get(point.index)
        values: dict[str, NodeValue] = {}
        if row is None or not row["n"]:
            reason = "no contact has a weighted signal in the lookback window"
            for node_id in (node.id, *node.children, *query.signal_labels):
                values[node_id] = NodeValue(None, reason)
            results.append((values, ScoreSummary(0, {}, ())))
            continue
        for signal_id, label in query.signal_labels.items():
            values[signal_id] = NodeValue.from_warehouse(row[label], f"mean points of {signal_id}")
        for type_id in node.children:
            parts = [values[s] for s in tree.nodes[type_id].children]
            missing = next((part for part in parts if part.reason), None)
            values[type_id] = missing or NodeValue(sum(part.value or 0.0 for part in parts))
        values[node.id] = NodeValue.from_warehouse(row["mean_score"], "mean score")
        roll_ups = tuple(
            RollUpSummary(
                entity,
                int(row[n] or 0),
                float(row[mean]) if row[mean] is not None else None,
                {band: float(row[label] or 0.0) for band, label in labels.items()},
            )
            for entity, (n, mean, labels) in query.roll_up_labels.items()
        )
        shares = {band: float(row[label]) for band, label in query.band_labels.items()}
        results.append((values, ScoreSummary(int(row["n"]), shares, roll_ups)))
    return results


def score_rows(
    tree: MetricTree,
    node: Node,
    points: Sequence[ScorePoint],
    segment: SegmentFilter,
    warehouse: Warehouse,
    only: Mapping[str, Scalar] | None = None,
) -> Select[Any]:
    """Statement listing (idx, entity, roll-up keys ``r_<entity>``, score, band, and each signal's
    composition under the column :func:`signal_label` names) per contact and point."""
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    scored, _labels, _lacking = scored_contacts(tree, node, points, segment, warehouse, only)
    return sa.select(scored, band_expr(scored.c.score, spec.bands).label("band"))


def band_expr(score: ColumnElement[Any], bands: Sequence[BandSpec]) -> ColumnElement[Any]:
    """The band a score falls in: the highest ``low`` not above it (see :func:`kpitree.scoring.band_for`)."""
    ordered = sorted(bands, key=lambda b: b.low if b.low is not None else float("-inf"), reverse=True)
    whens = [(score >= band.low, band.name) for band in ordered if band.low is not None]
    open_low = [band.name for band in ordered if band.low is None]
    return sa.case(*whens, else_=sa.literal(open_low[0]) if open_low else sa.null())


def _band_shares(
    score: ColumnElement[Any], bands: Sequence[BandSpec], labels: Mapping[str, str]
) -> list[ColumnElement[Any]]:
    band = band_expr(score, bands)
    return [sa.func.avg(sa.case((band == name, 1.0), else_=0.0)).label(labels[name]) for name in labels]


def _normalise(points: ColumnElement[Any], spec: ScoreSpec) -> ColumnElement[Any]:
    """Non-negative points -> 0-100, as :func:`kpitree.scoring.normalise`."""
    top = spec.normalisation.max_points
    if spec.normalisation.method == "clip":
        return sa.case((points > top, top), else_=points) * (100.0 / top)
    scaled = 100.0 * sa.func.ln(1.0 + points) / sa.func.ln(1.0 + top)
    return sa.case((scaled > 100.0, 100.0), else_=scaled)


def _roll_up(score: ColumnElement[Any], method: str, warehouse: Warehouse) -> ColumnElement[Any]:
    if method == "mean":
        return sa.func.avg(score)
    if method == "max":
        return sa.func.max(score)
    if warehouse.dialect == "duckdb":
        return sa.func.median(score)
    if warehouse.dialect == "postgresql":
        return sa.func.percentile_cont(0.5).within_group(score)
    raise WarehouseError(
        f"a median roll-up needs a warehouse with a median function; {warehouse.dialect} has none",
        hint="use 'method: mean' or 'method: max', or a DuckDB or PostgreSQL warehouse",
    )
