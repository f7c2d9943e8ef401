"""Entities (contacts, or the accounts they roll up to) whose engagement band moved, found in the
warehouse: only the entities that matter come back to Python.

One statement per score node and rule: every contact's score at the end of the current and the
comparison period (the compute's own per-contact scores, :func:`kpitree.compute.scores.score_rows`),
rolled up to accounts with the tree's method when the rule watches accounts, each entity's band
and band rank at both instants, and each engagement type's part of the score; then only the rows
that crossed into a watched band the rule's way, or that were firing before (which this run may
resolve), with the owner columns (``entity:csm_email``) read for those entities alone.

A roll-up's composition follows the entity's score, as :func:`kpitree.compute.score_states.roll_up_state`
takes it in Python: the mean of its contacts' parts for ``mean``; the top contact's parts for
``max`` (the first by contact id on a tie); the middle contact's, or the mean of the two middle
ones, for ``median`` (ties ordered by contact id).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from kpitree.compute.batch import PeriodWindow, SegmentFilter
from kpitree.compute.contact_scores import point_of, scored_contacts, signal_label
from kpitree.compute.relations import build_relation, computing, needed_columns
from kpitree.compute.scores import band_expr
from kpitree.errors import InternalError, UsageError
from kpitree.spec.models import BandSpec
from kpitree.spec.models.sources import JoinSpec
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import Warehouse

NOW, BEFORE = 0, 1  # the statement's point indexes


@dataclass(frozen=True)
class BandMove:
    """One entity's score and band at the comparison's end and the current period's end."""

    entity: str
    score_before: float | None  # None: not scored at the comparison's end
    score_after: float | None  # None: not scored now (it counts as 0 points, the lowest band)
    band_before: str | None
    band_after: str
    parts_before: Mapping[str, float]  # engagement type -> its part of the score
    parts_after: Mapping[str, float]
    owner_values: Mapping[str, object]  # the owner columns' values for this entity


@dataclass(frozen=True)
class BandWatch:
    """What a crossing rule looks for: an entity kind, a direction and the bands it watches."""

    entity: str  # contact | account
    direction: str  # down | up
    to_bands: frozenset[str] | None  # None: every band
    owner_columns: tuple[str, ...] = ()


def band_ranks(bands: Iterable[BandSpec]) -> dict[str, int]:
    """0 for the top band, then down."""
    ordered = sorted(bands, key=lambda b: b.low if b.low is not None else float("-inf"), reverse=True)
    return {band.name: rank for rank, band in enumerate(ordered)}


def band_moves(
    tree: MetricTree,
    node: Node,
    watch: BandWatch,
    current: PeriodWindow,
    compare: PeriodWindow,
    warehouse: Warehouse,
    segment: SegmentFilter,
    firing: Collection[str],
) -> list[BandMove]:
    """The entities that crossed into a watched band the rule's way, and every ``firing`` one."""
    (moves,) = band_moves_for_rules(tree, node, [(watch, firing)], current, compare, warehouse, segment)
    return moves


def band_moves_for_rules(
    tree: MetricTree,
    node: Node,
    watches: Sequence[tuple[BandWatch, Collection[str]]],
    current: PeriodWindow,
    compare: PeriodWindow,
    warehouse: Warehouse,
    segment: SegmentFilter,
) -> list[list[BandMove]]:
    """:func:`band_moves` for each (watch, firing) of one score node, in one statement: every
    rule reads the same per-contact scores (one CTE, scored once where the engine materialises
    it, as DuckDB and PostgreSQL do)."""
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    if not watches:
        return []
    scored, _labels, _lacking = scored_contacts(
        tree, node, [point_of(NOW, current), point_of(BEFORE, compare)], segment, warehouse
    )
    statement = crossings_statement(tree, node, watches, scored, warehouse, NOW, BEFORE)
    with warehouse.reading(computing(tree, spec.source, [node.id]), source=spec.source, node=node.id) as connection:
        return read_moves(node, watches, connection.execute(statement).mappings())


def crossings_statement(
    tree: MetricTree,
    node: Node,
    watches: Sequence[tuple[BandWatch, Collection[str]]],
    scored: Any,
    warehouse: Warehouse,
    now: int,
    before: int,
) -> Any:
    """The rows :func:`read_moves` reads, from ``scored``: per-contact scores (a CTE, or a table a
    computation filled once), whose points ``now`` and ``before`` are the two compared instants."""
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    for watch, _firing in watches:
        if watch.entity == "account" and not spec.roll_up:
            raise UsageError(
                f"a rule watches accounts, but score {node.id!r} rolls up to no entity",
                hint="add 'roll_up: [{entity: account_id}]' to the score, or use entity: contact",
            )
    owner_columns = sorted({c for watch, _firing in watches for c in watch.owner_columns})
    selects = [
        _moved(tree, node, index, watch, firing, scored, _part_labels(node), owner_columns, warehouse, (now, before))
        for index, (watch, firing) in enumerate(watches)
    ]
    statement: Any = sa.union_all(*selects) if len(selects) > 1 else selects[0]
    return statement.order_by(sa.text("w"), sa.text("key"))


def read_moves(
    node: Node, watches: Sequence[tuple[BandWatch, Collection[str]]], rows: Iterable[Any]
) -> list[list[BandMove]]:
    """Each watch's band moves from :func:`crossings_statement`'s rows."""
    part_labels = _part_labels(node)
    found: list[list[BandMove]] = [[] for _ in watches]
    for row in rows:
        found[int(row["w"])].append(
            BandMove(
                str(row["key"]),
                _float(row["score_before"]),
                _float(row["score_after"]),
                row["band_before"],
                row["band_after"],
                {t: float(row[f"b_{lab}"] or 0.0) for t, lab in part_labels.items()},
                {t: float(row[f"a_{lab}"] or 0.0) for t, lab in part_labels.items()},
                {c: row[f"o_{c}"] for c in watches[int(row["w"])][0].owner_columns},
            )
        )
    return found


def _part_labels(node: Node) -> dict[str, str]:
    return {t: f"t{i}" for i, t in enumerate(node.children)}


def _moved(
    tree: MetricTree,
    node: Node,
    index: int,
    watch: BandWatch,
    firing: Collection[str],
    scored: Any,
    part_labels: Mapping[str, str],
    owner_columns: Sequence[str],
    warehouse: Warehouse,
    instants: tuple[int, int],
) -> Any:
    """One rule's rows: (w, key, scores, parts, bands, owner columns) of the entities it sees."""
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    now, before = instants
    # The two compared instants only: a computation's table may hold more points (the aged one).
    scored = sa.select(scored).where(scored.c.idx.in_(instants)).subquery(f"compared_{index}")
    type_parts = {
        t: sum(
            (sa.func.coalesce(scored.c[signal_label(s)], 0.0) for s in tree.nodes[t].children),
            sa.literal(0.0),
        )
        for t in node.children
    }
    looked_up, scanned = _owner_reads(tree, node, watch, owner_columns, warehouse)
    # A contact's join keys, for the owner columns read from a joined source by key.
    join_keys = sorted(looked_up) if watch.entity == "contact" else []
    if watch.entity == "contact":
        states = sa.select(
            scored.c.idx,
            sa.cast(scored.c.entity, sa.String).label("key"),
            scored.c.score,
            *(part.label(part_labels[t]) for t, part in type_parts.items()),
            *(sa.cast(scored.c[f"r_{on}"], sa.String).label(f"k_{on}") for on in join_keys),
        ).subquery(f"states_{index}")
        key_column = spec.entity
    else:
        roll_up = spec.roll_up[0]
        key_column = roll_up.entity
        states = _rolled_states(scored, f"r_{roll_up.entity}", roll_up.method, type_parts, part_labels, index)
    per_entity = (
        sa.select(
            states.c.key,
            sa.func.max(states.c.score).filter(states.c.idx == now).label("score_after"),
            sa.func.max(states.c.score).filter(states.c.idx == before).label("score_before"),
            *(sa.func.max(states.c[lab]).filter(states.c.idx == now).label(f"a_{lab}") for lab in part_labels.values()),
            *(
                sa.func.max(states.c[lab]).filter(states.c.idx == before).label(f"b_{lab}")
                for lab in part_labels.values()
            ),
            *(sa.func.max(states.c[f"k_{on}"]).label(f"k_{on}") for on in join_keys),
        )
        .group_by(states.c.key)
        .subquery(f"per_entity_{index}")
    )
    ranks = band_ranks(spec.bands)
    lowest = max(ranks, key=lambda name: ranks[name])
    after_band = sa.func.coalesce(band_expr(sa.func.coalesce(per_entity.c.score_after, 0.0), spec.bands), lowest)
    before_band = sa.case(
        (per_entity.c.score_before.is_(None), sa.null()), else_=band_expr(per_entity.c.score_before, spec.bands)
    )
    banded = sa.select(per_entity, after_band.label("band_after"), before_band.label("band_before")).subquery(
        f"banded_{index}"
    )
    rank_after, rank_before = _rank(banded.c.band_after, ranks), _rank(banded.c.band_before, ranks)
    crossed = rank_after > rank_before if watch.direction == "down" else rank_after < rank_before
    watched = banded.c.band_after.in_(sorted(watch.to_bands)) if watch.to_bands is not None else sa.true()
    wanted = sa.and_(watched, banded.c.band_before.is_not(None), crossed)
    if firing:
        firing_ids: Any = sa.bindparam(f"firing_{index}", sorted(firing), expanding=True, literal_execute=True)
        wanted = sa.or_(wanted, banded.c.key.in_(firing_ids))
    moved = sa.select(banded).where(wanted).cte(f"moved_{index}")
    # Every watch's select has the same columns (they are united): the join keys stay inside.
    columns: list[Any] = [sa.literal(index).label("w"), *(c for c in moved.c if not c.name.startswith("k_"))]
    from_clause: Any = moved
    owners: dict[str, Any] = {}
    for number, (on, (join, wanted_columns)) in enumerate(sorted(looked_up.items())):
        # From the joined source by key: its few rows for the moved entities, not the signals.
        joined = build_relation(
            tree, join.source, needed_columns(tree.sources[join.source], {on, *wanted_columns}), warehouse
        )
        joined_key = sa.cast(joined.column(on), sa.String)
        moved_key = moved.c[f"k_{on}"] if watch.entity == "contact" else moved.c.key
        read = (
            sa.select(
                joined_key.label("owner_key"), *(sa.func.max(joined.column(c)).label(f"o_{c}") for c in wanted_columns)
            )
            .select_from(joined.from_clause)
            .where(joined_key.in_(sa.select(moved_key)), *joined.keep_rows())
            .group_by(joined_key)
            .subquery(f"owners_{index}_{number}")
        )
        owners.update({c: read.c[f"o_{c}"] for c in wanted_columns})
        from_clause = from_clause.outerjoin(read, read.c.owner_key == moved_key)
    if scanned:
        relation = build_relation(
            tree, spec.source, needed_columns(tree.sources[spec.source], {key_column, *scanned}), warehouse
        )
        key = sa.cast(relation.column(key_column), sa.String)
        read = (
            sa.select(key.label("owner_key"), *(sa.func.max(relation.column(c)).label(f"o_{c}") for c in scanned))
            .select_from(relation.from_clause)
            .where(key.in_(sa.select(moved.c.key)))
            .group_by(key)
            .subquery(f"owners_{index}")
        )
        owners.update({c: read.c[f"o_{c}"] for c in scanned})
        from_clause = from_clause.outerjoin(read, read.c.owner_key == moved.c.key)
    columns += [owners[c].label(f"o_{c}") for c in owner_columns]
    return sa.select(*columns).select_from(from_clause)


def _owner_reads(
    tree: MetricTree, node: Node, watch: BandWatch, owner_columns: Sequence[str], warehouse: Warehouse
) -> tuple[dict[str, tuple[JoinSpec, list[str]]], list[str]]:
    """Which owner columns can be read from a joined source by its key (join key -> the join and
    its columns), and which must be read over the score's own rows.

    By key when the join key is one the per-contact rows carry: a roll-up key for a contact (a
    contact's rows are taken to agree on it, as the roll-ups take them), the entity itself for a
    roll-up entity. Reading ``csm_email`` over 19.7M signals joined to accounts took 1.6 s for
    6,000 contacts on DuckDB; from the accounts by key it is a lookup."""
    spec = node.score
    if spec is None:
        raise InternalError("spec is missing")
    keys = {r.entity for r in spec.roll_up} if watch.entity == "contact" else {spec.roll_up[0].entity}
    # The relation the score's rows would read them from says which join supplies each.
    supplied_by = build_relation(
        tree, spec.source, needed_columns(tree.sources[spec.source], set(owner_columns)), warehouse
    ).supplied_by
    looked_up: dict[str, tuple[JoinSpec, list[str]]] = {}
    scanned: list[str] = []
    for column in owner_columns:
        join = supplied_by.get(column)
        if join is not None and join.on in keys:
            looked_up.setdefault(join.on, (join, []))[1].append(column)
        else:
            scanned.append(column)
    return looked_up, scanned


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _rank(band: ColumnElement[Any], ranks: Mapping[str, int]) -> ColumnElement[Any]:
    return sa.case(*((band == name, rank) for name, rank in ranks.items()), else_=sa.null())


def _rolled_states(
    scored: Any,
    key_label: str,
    method: str,
    type_parts: Mapping[str, ColumnElement[Any]],
    part_labels: Mapping[str, str],
    index: int,
) -> Any:
    """(idx, key, score, parts) per roll-up entity and point, as the tree's roll-up method takes it."""
    key = sa.cast(scored.c[key_label], sa.String)
    if method == "mean":
        return (
            sa.select(
                scored.c.idx,
                key.label("key"),
                sa.func.avg(scored.c.score).label("score"),
                *(sa.func.avg(part).label(part_labels[t]) for t, part in type_parts.items()),
            )
            .where(scored.c[key_label].is_not(None))
            .group_by(scored.c.idx, key)
            .subquery(f"states_{index}")
        )
    if method not in ("max", "median"):
        raise ValueError(f"unknown roll-up method {method!r}")
    partition = [scored.c.idx, key]
    descending = method == "max"
    order = [scored.c.score.desc() if descending else scored.c.score.asc(), scored.c.entity]
    ranked = (
        sa.select(
            scored.c.idx,
            key.label("key"),
            scored.c.score,
            *(part.label(part_labels[t]) for t, part in type_parts.items()),
            sa.func.row_number().over(partition_by=partition, order_by=order).label("rn"),
            sa.func.count().over(partition_by=partition).label("n"),
        )
        .where(scored.c[key_label].is_not(None))
        .subquery(f"ranked_{index}")
    )
    if descending:
        chosen = ranked.c.rn == 1
    else:  # the middle row, or the two middle rows: ranks floor((n+1)/2) and floor(n/2)+1
        chosen = sa.or_(
            ranked.c.rn * 2 == ranked.c.n + 1, ranked.c.rn * 2 == ranked.c.n, ranked.c.rn * 2 == ranked.c.n + 2
        )
    return (
        sa.select(
            ranked.c.idx,
            ranked.c.key,
            sa.func.avg(ranked.c.score).label("score"),
            *(sa.func.avg(ranked.c[lab]).label(lab) for lab in part_labels.values()),
        )
        .where(chosen)
        .group_by(ranked.c.idx, ranked.c.key)
        .subquery(f"states_{index}")
    )


def parts_moved(move: BandMove, down: bool) -> tuple[str | None, float]:
    """The engagement type that moved the rule's way the most, and by how many points."""
    changes = {t: move.parts_after.get(t, 0.0) - move.parts_before.get(t, 0.0) for t in move.parts_after}
    moving = {t: c for t, c in changes.items() if (c < 0 if down else c > 0)}
    if not moving:
        return None, 0.0
    worst = max(moving, key=lambda t: abs(moving[t]))
    return worst, moving[worst]
