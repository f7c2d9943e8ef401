"""What one compute run covers: the periods (the one asked for plus its comparison or history) and
the segment filter from ``--where``, and how both become SQL on a source.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from kpitree.compute.conditions import in_values
from kpitree.compute.relations import SourceRelation
from kpitree.data_contract import ColumnType, contract_types
from kpitree.errors import UsageError
from kpitree.periods import Calendar, Period
from kpitree.spec.columns import own_columns
from kpitree.spec.models.base import Scalar
from kpitree.tree import MetricTree


@dataclass(frozen=True)
class PeriodWindow:
    """One period of a batch, with the instants that bound it in the tree's timezone."""

    index: int
    period: Period
    start: datetime
    end: datetime


def windows(calendar: Calendar, periods: Sequence[Period]) -> tuple[PeriodWindow, ...]:
    return tuple(PeriodWindow(i, p, *calendar.bounds(p)) for i, p in enumerate(periods))


def period_index(relation: SourceRelation, batch: Sequence[PeriodWindow]) -> ColumnElement[Any]:
    """CASE placing a row in the batch's periods (NULL outside all of them)."""
    time = relation.time
    whens = [
        (
            sa.and_(
                time >= relation.bound(w.start, w.period.start),
                time < relation.bound(w.end, w.period.end),
            ),
            w.index,
        )
        for w in batch
    ]
    return sa.case(*whens, else_=sa.null())


def in_any_period(relation: SourceRelation, batch: Sequence[PeriodWindow]) -> ColumnElement[bool]:
    """A WHERE that lets an engine prune rows (and Parquet row groups) outside the batch."""
    time = relation.time
    ranges = sorted((w.start, w.period.start, w.end, w.period.end) for w in batch)
    merged: list[list[Any]] = []
    for start, start_day, end, end_day in ranges:
        if merged and start <= merged[-1][2]:
            if end > merged[-1][2]:
                merged[-1][2:] = [end, end_day]
        else:
            merged.append([start, start_day, end, end_day])
    return sa.or_(*(sa.and_(time >= relation.bound(s, sd), time < relation.bound(e, ed)) for s, sd, e, ed in merged))


@dataclass(frozen=True)
class SegmentFilter:
    """``--where DIM=VALUE``: the whole tree computed for one segment. Values of one dimension OR."""

    values: Mapping[str, tuple[Scalar, ...]] = field(default_factory=dict)

    @classmethod
    def parse(cls, items: Sequence[str], tree: MetricTree) -> SegmentFilter:
        values: dict[str, list[Scalar]] = {}
        types = _column_types(tree)
        for item in items:
            dim, sep, raw = item.partition("=")
            dim = dim.strip()
            if not sep or not dim:
                raise UsageError(f"--where {item!r} is not DIM=VALUE", hint="e.g. --where segment=SMB")
            if dim not in types:
                known = ", ".join(sorted(types)) or "none"
                raise UsageError(
                    f"--where {dim}: no source of tree {tree.id!r} has a column {dim!r}",
                    hint=f"columns you can filter on: {known}",
                )
            values.setdefault(dim, []).append(_coerce(raw.strip(), types[dim], dim))
        return cls({dim: tuple(vs) for dim, vs in values.items()})

    def __bool__(self) -> bool:
        return bool(self.values)

    def as_dict(self) -> dict[str, list[Scalar]]:
        return {dim: list(vs) for dim, vs in sorted(self.values.items())}

    def key(self) -> str:
        """A stable text key for storing results per segment ('' for the whole population):
        canonical JSON, so any value (``R&D``, ``A|B``, ``x=y``) reads back as itself."""
        if not self.values:
            return ""
        data = {dim: [str(v) for v in vs] for dim, vs in sorted(self.values.items())}
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_key(cls, key: str, tree: MetricTree) -> SegmentFilter:
        """The filter a stored :meth:`key` stands for, values typed by the tree's columns again."""
        return cls.parse([f"{dim}={value}" for dim, values in key_items(key) for value in values], tree)

    def label(self) -> str:
        """For people: ``segment=SMB``, ``segment=SMB or Mid-market, region=EU``."""
        return segment_label(self.key())

    def matches(self, where: Mapping[str, Scalar] | None) -> bool:
        """Whether a benchmark band's ``where`` describes this segment (every key pinned to its value)."""
        if not where:
            return True
        return all(self.values.get(dim) == (value,) for dim, value in where.items())

    def conditions(self, relation: SourceRelation) -> tuple[list[ColumnElement[bool]], list[str]]:
        """Conditions for the dimensions this source has, and the dimensions it lacks."""
        applied, lacking = [], []
        for dim, vs in self.values.items():
            if dim in relation.columns:
                applied.append(in_values(relation.column(dim), vs))
            else:
                lacking.append(dim)
        return applied, lacking


def key_items(key: str) -> list[tuple[str, list[str]]]:
    """(dimension, values) of a stored segment key; keys written before they were JSON
    (``dim=a|b&dim2=c``) are read the old way (alembic 0007 rewrote those it found)."""
    if not key:
        return []
    if key.startswith("{"):
        data = json.loads(key)
        return [(str(dim), [str(v) for v in values]) for dim, values in sorted(data.items())]
    return [(dim, values.split("|")) for part in key.split("&") for dim, _, values in [part.partition("=")]]


def segment_label(key: str) -> str:
    """A stored segment key for people ('' for the whole population)."""
    return ", ".join(f"{dim}={' or '.join(values)}" for dim, values in key_items(key))


def source_offers(tree: MetricTree, source_id: str) -> set[str]:
    """Columns of a source, joined sources' included, under the tree's names."""
    spec = tree.sources[source_id]
    offered = set(own_columns(spec))
    for join in spec.joins:
        if join.source in tree.sources:
            offered |= own_columns(tree.sources[join.source])
    return offered


def _column_types(tree: MetricTree) -> dict[str, ColumnType | None]:
    types: dict[str, ColumnType | None] = {}
    for source_id, spec in tree.sources.items():
        contract = contract_types(spec.contract)
        for column in source_offers(tree, source_id):
            types.setdefault(column, contract.get(column))
    return types


def _coerce(raw: str, column_type: ColumnType | None, dim: str) -> Scalar:
    if column_type is ColumnType.BOOLEAN:
        lowered = raw.lower()
        if lowered not in ("true", "false"):
            raise UsageError(f"--where {dim}={raw}: {dim} is true or false")
        return lowered == "true"
    if column_type is ColumnType.NUMBER:
        try:
            return float(raw)
        except ValueError:
            raise UsageError(f"--where {dim}={raw}: {dim} is a number") from None
    return raw
