"""Per-entity band crossings for engagement scores: a contact or account sliding from Engaged to
At risk, and the engagement type that fell most for it, so the alert reaches that type's owner.

Each entity is its own alert (its own fingerprint, so it fires and resolves on its own); the
messages group them, so an owner gets one message listing their entities, not one per entity.

The warehouse finds the entities that moved (:mod:`kpitree.compute.crossings`, from the compute's
own per-contact scores, rolled up to accounts with the tree's method) and reads their owner
columns; only those entities come back. This module decides what each crossing means for its rule.

An entity that fired stays firing while it stays in the bands the rule watches (``to_bands``) and
has not climbed back a band; it resolves when it does.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from kpitree.alert.routing import ENTITY_PREFIX
from kpitree.alert.rules import Condition
from kpitree.compute.batch import PeriodWindow, SegmentFilter
from kpitree.compute.crossings import BandMove, BandWatch, band_moves_for_rules, band_ranks, parts_moved
from kpitree.compute.score_batch import Watches
from kpitree.errors import InternalError
from kpitree.spec.models.alerts import EntityBandRule
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import Warehouse


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
    rules: Sequence[tuple[EntityBandRule, Collection[str]]],
    current: PeriodWindow,
    compare: PeriodWindow,
    warehouse: Warehouse,
    segment: SegmentFilter,
    answered: tuple[Watches, list[list[BandMove]]] | None = None,
) -> list[list[EntityFinding]]:
    """For each (rule, firing entities) of one score node: the entities that crossed a band the
    rule's way this period, and those firing before (which this run may resolve). The warehouse
    finds them for all of the node's rules in one statement
    (:func:`kpitree.compute.crossings.band_moves_for_rules`); only they come back. ``answered``:
    the moves a computation already found (:func:`crossing_watches`), used when they answer
    these rules and firing entities."""
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    watches = node_watches(tree, node, rules)
    if answered is not None and list(answered[0]) == watches:
        moved = answered[1]
    else:
        moved = band_moves_for_rules(tree, node, watches, current, compare, warehouse, segment)
    return [
        _findings(tree, node, rule, watch, firing, moves)
        for (rule, firing), (watch, _firing), moves in zip(rules, watches, moved, strict=True)
    ]


def node_watches(
    tree: MetricTree, node: Node, rules: Sequence[tuple[EntityBandRule, Collection[str]]]
) -> list[tuple[BandWatch, Collection[str]]]:
    """What the warehouse looks for, per (rule, firing entities) of a score node."""
    owners = tuple(_owner_columns(tree, node))
    return [(_watch(rule, owners), frozenset(firing)) for rule, firing in rules]


def crossing_rules(
    node: Node, firing_entities: Mapping[tuple[str, str], Collection[str]] | None
) -> list[tuple[EntityBandRule, Collection[str]]]:
    """A score node's band-crossing rules, each with the entities it had firing."""
    return [
        (rule, (firing_entities or {}).get((node.id, rule.id), ()))
        for rule in node.alerts
        if isinstance(rule, EntityBandRule)
    ]


def crossing_watches(
    tree: MetricTree, firing_entities: Mapping[tuple[str, str], Collection[str]] | None
) -> dict[str, list[tuple[BandWatch, Collection[str]]]]:
    """Per score node with crossing rules, the watches :func:`entity_findings` asks: for a
    computation to find the entities with the scores it takes anyway (a run scores contacts once)."""
    watches = {}
    for node in tree.nodes.values():
        rules = crossing_rules(node, firing_entities)
        if rules and node.score is not None:
            watches[node.id] = node_watches(tree, node, rules)
    return watches


def _watch(rule: EntityBandRule, owner_columns: tuple[str, ...]) -> BandWatch:
    return BandWatch(rule.entity, rule.direction, frozenset(rule.to_bands) if rule.to_bands else None, owner_columns)


def _findings(
    tree: MetricTree,
    node: Node,
    rule: EntityBandRule,
    watch: BandWatch,
    firing: Collection[str],
    found_moves: Sequence[BandMove],
) -> list[EntityFinding]:
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    ranks = band_ranks(spec.bands)
    lowest = max(ranks, key=lambda name: ranks[name])
    down = rule.direction == "down"
    found: list[EntityFinding] = []
    moves = {m.entity: m for m in found_moves}
    for entity in sorted(set(moves) | set(firing)):
        # Firing, but scored at neither instant: 0 points now, the lowest band.
        move = moves.get(entity) or BandMove(entity, None, None, None, lowest, {}, {}, {})
        moved = 0 if move.band_before is None else ranks[move.band_after] - ranks[move.band_before]
        crossed = moved > 0 if down else moved < 0  # rank 0 is the top band: sliding raises the rank
        climbed_back = moved < 0 if down else moved > 0
        in_watched = watch.to_bands is None or move.band_after in watch.to_bands
        holds = in_watched and (crossed or (entity in firing and not climbed_back))
        fell_most, moved_by = parts_moved(move, down)
        crossing = EntityCrossing(
            entity,
            rule.entity,
            move.band_before,
            move.band_after,
            move.score_before,
            move.score_after or 0.0,
            fell_most,
            moved_by,
            move.owner_values,
        )
        found.append(EntityFinding(crossing, _condition(tree, crossing, holds)))
    return found


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
