"""Per-entity band crossings for engagement scores: a contact or account sliding from Engaged to
At risk, and the engagement type that fell most for it, so the alert reaches that type's owner.

Each entity is its own alert (its own fingerprint, so it fires and resolves on its own); the
messages group them, so an owner gets one message listing their entities, not one per entity.

The scores are the compute's own statement (:func:`kpitree.compute.scores.score_rows`): one row per
contact and period, already aggregated in the warehouse. Accounts are rolled up from their
contacts with the tree's roll-up method, as :mod:`kpitree.compute.score_states` does.

An entity that fired stays firing while it stays in the bands the rule watches (``to_bands``) and
has not climbed back a band; it resolves when it does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from kpitree.alert.routing import ENTITY_PREFIX
from kpitree.alert.rules import Condition
from kpitree.compute.batch import PeriodWindow, SegmentFilter
from kpitree.compute.relations import build_relation, computing, needed_columns
from kpitree.compute.score_states import UNSCORED, ScoreState, roll_up_state, state_from_row
from kpitree.compute.scores import score_points, score_rows
from kpitree.errors import UsageError
from kpitree.scoring import band_for
from kpitree.spec.models import BandSpec
from kpitree.spec.models.alerts import EntityBandRule
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import Warehouse

_LOOKUP_CHUNK = 500  # ids per IN list when reading owner columns


@dataclass(frozen=True)
class EntityCrossing:
    entity: str
    kind: str  # contact | account
    band_before: str | None  # None: not scored at the comparison's end
    band_after: str
    score_before: float | None
    score_after: float
    fell_most: str | None  # the engagement type that moved the rule's way the most
    moved_by: float  # that type's change, in points
    owner_values: Mapping[str, object]  # warehouse columns that entity owners are read from


@dataclass(frozen=True)
class EntityFinding:
    crossing: EntityCrossing
    condition: Condition


def entity_findings(
    tree: MetricTree,
    node: Node,
    rule: EntityBandRule,
    current: PeriodWindow,
    compare: PeriodWindow,
    warehouse: Warehouse,
    segment: SegmentFilter,
    firing: Collection[str],
) -> list[EntityFinding]:
    """Entities that crossed a band the rule's way this period, and those firing before (which
    this run may resolve)."""
    spec = node.score
    assert spec is not None
    points = score_points([current, compare])
    now_idx, before_idx = points[0].index, points[1].index
    key = _entity_key(node, rule)
    states: dict[int, dict[str, list[ScoreState]]] = {now_idx: defaultdict(list), before_idx: defaultdict(list)}
    with warehouse.reading(computing(tree, spec.source, [node.id]), source=spec.source, node=node.id) as connection:
        for row in connection.execute(score_rows(tree, node, points, segment, warehouse)).mappings():
            states[row["idx"]][str(row[key])].append(state_from_row(tree, node, row))
    rolled = {idx: {e: _one(rows, rule, node) for e, rows in by_entity.items()} for idx, by_entity in states.items()}
    ranks = _ranks(spec.bands)
    lowest = min(spec.bands, key=lambda b: ranks[b.name])
    down = rule.direction == "down"
    watched = set(rule.to_bands) if rule.to_bands else None
    found: list[EntityFinding] = []
    for entity in sorted(set(rolled[now_idx]) | set(rolled[before_idx]) | set(firing)):
        after = rolled[now_idx].get(entity, UNSCORED)
        before = rolled[before_idx].get(entity, UNSCORED)
        after_band = band_for(after.points, spec.bands) or lowest
        before_band = band_for(before.score, spec.bands) if before.score is not None else None
        moved = 0 if before_band is None else ranks[after_band.name] - ranks[before_band.name]
        crossed = moved > 0 if down else moved < 0  # rank 0 is the top band: sliding raises the rank
        climbed_back = moved < 0 if down else moved > 0
        in_watched = watched is None or after_band.name in watched
        holds = in_watched and (crossed or (entity in firing and not climbed_back))
        if not holds and entity not in firing:
            continue
        fell_most, moved_by = _type_that_moved(node, before, after, down)
        crossing = EntityCrossing(
            entity,
            rule.entity,
            before_band.name if before_band else None,
            after_band.name,
            before.score,
            after.points,
            fell_most,
            moved_by,
            {},
        )
        found.append(EntityFinding(crossing, _condition(tree, crossing, holds)))
    return _with_owner_values(tree, node, rule, found, warehouse)


def _entity_key(node: Node, rule: EntityBandRule) -> str:
    spec = node.score
    assert spec is not None
    if rule.entity == "contact":
        return "entity"
    if not spec.roll_up:
        raise UsageError(
            f"rule {rule.id!r} watches accounts, but score {node.id!r} rolls up to no entity",
            hint="add 'roll_up: [{entity: account_id}]' to the score, or use entity: contact",
        )
    return f"r_{spec.roll_up[0].entity}"


def _one(rows: Sequence[ScoreState], rule: EntityBandRule, node: Node) -> ScoreState:
    spec = node.score
    assert spec is not None
    if rule.entity == "contact":
        return rows[0]
    return roll_up_state(rows, spec.roll_up[0].method)


def _ranks(bands: Iterable[BandSpec]) -> dict[str, int]:
    """0 for the top band, then down."""
    ordered = sorted(bands, key=lambda b: b.low if b.low is not None else float("-inf"), reverse=True)
    return {band.name: rank for rank, band in enumerate(ordered)}


def _type_that_moved(node: Node, before: ScoreState, after: ScoreState, down: bool) -> tuple[str | None, float]:
    changes = {t: after.part(t) - before.part(t) for t in node.children}
    moving = {t: c for t, c in changes.items() if (c < 0 if down else c > 0)}
    if not moving:
        return None, 0.0
    worst = max(moving, key=lambda t: abs(moving[t]))
    return worst, moving[worst]


def _condition(tree: MetricTree, crossing: EntityCrossing, holds: bool) -> Condition:
    who = f"{crossing.kind} {crossing.entity}"
    before = (
        f"{crossing.band_before} ({crossing.score_before:.0f})" if crossing.score_before is not None else "unscored"
    )
    summary = f"{who}: {before} -> {crossing.band_after} ({crossing.score_after:.0f})"
    if crossing.fell_most:
        summary += f"; {tree.node(crossing.fell_most).title} moved most ({crossing.moved_by:+.1f} points)"
    facts: dict[str, float | str | None] = {
        "entity": crossing.entity,
        "band_before": crossing.band_before,
        "band_after": crossing.band_after,
        "score_before": crossing.score_before,
        "value": crossing.score_after,
        "fell_most": crossing.fell_most,
    }
    return Condition(holds, summary, crossing.band_after if holds else "", facts)


def _owner_columns(tree: MetricTree, node: Node) -> list[str]:
    owners = [node.owners] + [tree.node(t).owners for t in node.children]
    refs = (r for o in owners for r in (*o.responsible, *([o.accountable] if o.accountable else []), *o.informed))
    return sorted({r.removeprefix(ENTITY_PREFIX) for r in refs if r.startswith(ENTITY_PREFIX)})


def _with_owner_values(
    tree: MetricTree, node: Node, rule: EntityBandRule, found: list[EntityFinding], warehouse: Warehouse
) -> list[EntityFinding]:
    """Each entity's values of the columns that entity owners (``entity:csm_email``) name."""
    columns = _owner_columns(tree, node)
    spec = node.score
    assert spec is not None
    if not columns or not found:
        return found
    key = spec.entity if rule.entity == "contact" else spec.roll_up[0].entity
    relation = build_relation(tree, spec.source, needed_columns(tree.sources[spec.source], {key, *columns}), warehouse)
    ids = [f.crossing.entity for f in found]
    values: dict[str, dict[str, object]] = {}
    what = f"{computing(tree, spec.source, [node.id])}: the owners {', '.join(columns)}"
    with warehouse.reading(what, source=spec.source, node=node.id) as connection:
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start : start + _LOOKUP_CHUNK]
            statement: Any = (
                sa.select(
                    relation.column(key).label("key"), *(sa.func.max(relation.column(c)).label(c) for c in columns)
                )
                .select_from(relation.from_clause)
                .where(sa.cast(relation.column(key), sa.String).in_(chunk))
                .group_by(relation.column(key))
            )
            for row in connection.execute(statement).mappings():
                values[str(row["key"])] = {c: row[c] for c in columns}
    return [
        EntityFinding(replace(f.crossing, owner_values=values.get(f.crossing.entity, {})), f.condition) for f in found
    ]
