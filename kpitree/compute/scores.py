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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from kpitree.compute.batch import SegmentFilter
from kpitree.compute.contact_scores import Scored, ScorePoint, scored_contacts
from kpitree.compute.relations import computing
from kpitree.compute.values import NodeValue
from kpitree.errors import InternalError, WarehouseError
from kpitree.spec.models import BandSpec
from kpitree.spec.models.base import Scalar
from kpitree.tree import MetricTree, Node, NodeKind
from kpitree.warehouse import Warehouse


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


def plan_score_query(
    tree: MetricTree,
    node: Node,
    points: Sequence[ScorePoint],
    segment: SegmentFilter,
    warehouse: Warehouse,
    scored: Scored | None = None,
) -> ScoreQuery:
    """The aggregates per point; from ``scored`` when given (:func:`scored_contacts` of these
    points, or a table filled from it), else from a :func:`scored_contacts` of their own."""
    source, signal_labels, lacking = scored or scored_contacts(tree, node, points, segment, warehouse)
    return aggregate_scores(node, source, signal_labels, lacking, warehouse)


def aggregate_scores(
    node: Node,
    scored_rows: Any,
    signal_labels: Mapping[str, str],
    lacking: Sequence[str],
    warehouse: Warehouse,
    composition: Any = None,
) -> ScoreQuery:
    """The statement of the aggregates per point over per-contact rows (idx, entity, roll-up keys
    ``r_<entity>``, score, and each signal's composition unless ``composition`` is given: then a
    subquery of each point's (``idx``) composition summed over its contacts, which the count of
    contacts divides into the mean)."""
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    band_labels = {band.name: f"b{i}" for i, band in enumerate(spec.bands)}
    contacts = (
        sa.select(
            scored_rows.c.idx,
            sa.func.count().label("n"),
            sa.func.avg(scored_rows.c.score).label("mean_score"),
            *(
                sa.func.avg(scored_rows.c[label]).label(label)
                for label in signal_labels.values()
                if composition is None
            ),
            *_band_shares(scored_rows.c.score, spec.bands, band_labels),
        )
        .group_by(scored_rows.c.idx)
        .subquery("contacts")
    )
    columns: list[Any] = [contacts]
    from_clause: Any = contacts
    if composition is not None:
        from_clause = from_clause.join(composition, composition.c.idx == contacts.c.idx)
        columns += [(composition.c[label] / contacts.c.n).label(label) for label in signal_labels.values()]
    roll_up_labels: dict[str, tuple[str, str, Mapping[str, str]]] = {}
    for i, roll_up in enumerate(spec.roll_up):
        key = scored_rows.c[f"r_{roll_up.entity}"]
        entity_scores = (
            sa.select(scored_rows.c.idx, _roll_up(scored_rows.c.score, roll_up.method, warehouse).label("score"))
            .where(key.is_not(None))
            .group_by(scored_rows.c.idx, key)
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
    return ScoreQuery(node.id, statement, dict(signal_labels), band_labels, roll_up_labels, tuple(sorted(lacking)))


def run_score_query(
    tree: MetricTree, query: ScoreQuery, points: Sequence[ScorePoint], warehouse: Warehouse
) -> list[tuple[dict[str, NodeValue], ScoreSummary]]:
    """Values of the score node, its types and signals, and the band summary, per point."""
    source = tree.nodes[query.node_id].score
    source_id = source.source if source else ""
    with warehouse.reading(
        computing(tree, source_id, [query.node_id]), source=source_id, node=query.node_id
    ) as connection:
        return read_score_results(tree, query, points, connection.execute(query.statement).mappings())


def read_score_results(
    tree: MetricTree, query: ScoreQuery, points: Sequence[ScorePoint], result: Iterable[Any]
) -> list[tuple[dict[str, NodeValue], ScoreSummary]]:
    """:func:`run_score_query`'s answer from the statement's rows."""
    rows = {row["idx"]: row for row in result}
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


def _roll_up(score: ColumnElement[Any], method: str, warehouse: Warehouse) -> ColumnElement[Any]:
    if method == "mean":
        return sa.func.avg(score)
    if method == "max":
        return sa.func.max(score)
    if warehouse.dialect.has_percentile:
        return warehouse.dialect.percentile(score, 0.5)
    raise WarehouseError(
        f"a median roll-up needs a warehouse with a median function; {warehouse.dialect.display_name} has none",
        hint="use 'method: mean' or 'method: max', or a DuckDB, PostgreSQL or Spark SQL warehouse",
    )
