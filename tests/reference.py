"""Independent computations to cross-check the SQL against: plain Python over the rows.

Written from the definitions (docs/tree-spec.md, kpitree.scoring), never from the SQL compiler:
filters, deduplication, period membership by local date in the tree's timezone, aggregation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from kpitree.periods import Period
from kpitree.scoring import Score, SignalEvent, band_for, score_signals
from kpitree.spec.columns import time_column
from kpitree.spec.models.sources import FilterCondition
from kpitree.tree import MetricTree, Node

Row = dict[str, Any]


def fetch(staging: duckdb.DuckDBPyConnection, table: str) -> list[Row]:
    """Every row of a staging table; timestamps as aware UTC datetimes."""
    columns = staging.execute(f"DESCRIBE {table}").fetchall()
    select = ", ".join(
        f"timezone('UTC', {name}) AS {name}" if kind == "TIMESTAMP WITH TIME ZONE" else name
        for name, kind, *_ in columns
    )
    names = [c[0] for c in columns]
    rows = [dict(zip(names, row, strict=True)) for row in staging.execute(f"SELECT {select} FROM {table}").fetchall()]
    for row in rows:
        for name, kind, *_ in columns:
            if kind == "TIMESTAMP WITH TIME ZONE" and row[name] is not None:
                row[name] = row[name].replace(tzinfo=UTC)
    return rows


def holds(value: Any, condition: FilterCondition) -> bool:
    operand = condition.value
    match condition.op:
        case "eq":
            return bool(value == operand) if operand is not None else value is None
        case "ne":
            return value is None or bool(value != operand)
        case "in":
            return value in (operand or [])  # type: ignore[operator]
        case "not_in":
            return value is None or value not in (operand or [])  # type: ignore[operator]
        case "gt":
            return value is not None and value > operand
        case "gte":
            return value is not None and value >= operand
        case "lt":
            return value is not None and value < operand
        case "lte":
            return value is not None and value <= operand
        case "is_null":
            return (value is None) == bool(operand)
    raise AssertionError(condition.op)


def source_rows(tree: MetricTree, source_id: str, tables: Mapping[str, list[Row]]) -> list[Row]:
    """A source's rows: its table, joined sources' columns added, its own filter applied."""
    spec = tree.sources[source_id]
    rows = [dict(r) for r in tables[spec.table or source_id]]
    for join in spec.joins:
        joined_spec = tree.sources[join.source]
        lookup = {r[join.on]: r for r in tables[joined_spec.table or join.source]}
        for row in rows:
            other = lookup.get(row[join.on], {})
            for name, value in other.items():
                row.setdefault(name, value)
            for name in tables[joined_spec.table or join.source][0]:
                row.setdefault(name, None)
    return [r for r in rows if all(holds(r[c], cond) for c, cond in spec.where.items())]


def local_day(value: Any, tz: ZoneInfo) -> Any:
    return value.astimezone(tz).date() if isinstance(value, datetime) else value


def measure_values(
    tree: MetricTree, period: Period, tables: Mapping[str, list[Row]], where: Mapping[str, Any] | None = None
) -> dict[str, float]:
    tz = ZoneInfo(tree.timezone)
    results: dict[str, float] = {}
    for node in tree.nodes.values():
        if node.measure is None:
            continue
        spec = tree.sources[node.measure.source]
        tcol = time_column(spec)
        rows = source_rows(tree, node.measure.source, tables)
        if where:
            rows = [r for r in rows if all(r.get(k, v) == v for k, v in where.items())]
        if tcol:
            rows = [r for r in rows if period.start <= local_day(r[tcol], tz) < period.end]
        if spec.dedupe:
            seen: set[tuple[Any, ...]] = set()
            unique = []
            for r in sorted(rows, key=lambda r: r[tcol] if tcol else 0):
                key = tuple(r[k] for k in spec.dedupe)
                if None in key or key not in seen:
                    seen.add(key)
                    unique.append(r)
            rows = unique
        results[node.id] = aggregate(node, rows)
    return results


def aggregate(node: Node, rows: Iterable[Row]) -> float:
    measure = node.measure
    assert measure is not None
    kept = [
        r
        for r in rows
        if all(holds(r[c], cond) for c, cond in measure.where.items())
        and all(
            (r[x.column] is None or r[x.column] not in x.excluded)
            if x.excluded is not None
            else r[x.column] in x.values
            for x in node.restrictions
        )
    ]
    values = [r[measure.column] for r in kept] if measure.column else [1] * len(kept)
    present = [v for v in values if v is not None]
    if measure.agg == "count":
        return float(len(present))
    if measure.agg == "count_distinct":
        return float(len(set(present)))
    if measure.agg == "sum":
        return float(sum(present))
    return float(sum(present) / len(present))


def contact_scores(
    tree: MetricTree,
    node: Node,
    as_of: datetime,
    tables: Mapping[str, list[Row]],
    signals_until: datetime | None = None,
) -> tuple[dict[str, Score], dict[str, str]]:
    """Each contact's score as of ``as_of`` from its signals up to ``signals_until`` (default:
    ``as_of``), and each contact's account."""
    spec = node.score
    assert spec is not None
    until = signals_until or as_of
    events: dict[str, list[SignalEvent]] = defaultdict(list)
    account_of: dict[str, str] = {}
    for r in source_rows(tree, spec.source, tables):
        events[r[spec.entity]].append(
            SignalEvent(
                r[spec.signal_column], r[time_column(tree.sources[spec.source]) or "occurred_at"], r.get("quantity")
            )
        )
        account_of[r[spec.entity]] = max(account_of.get(r[spec.entity], ""), r["account_id"])
    weighed = {s.signal for t in spec.types for s in t.signals}
    scores = {}
    for contact, contact_events in events.items():
        in_window = [
            e
            for e in contact_events
            if e.signal_type in weighed
            and e.occurred_at <= until
            and 0 <= (as_of - e.occurred_at).total_seconds() <= spec.lookback_days * 86400
        ]
        if in_window:
            scores[contact] = score_signals(in_window, spec, as_of)
    return scores, account_of


def score_summary(
    tree: MetricTree,
    node: Node,
    as_of: datetime,
    tables: Mapping[str, list[Row]],
    signals_until: datetime | None = None,
) -> dict[str, Any]:
    """Mean score, mean contribution per engagement type, band shares and account means."""
    spec = node.score
    assert spec is not None
    scores, account_of = contact_scores(tree, node, as_of, tables, signals_until)
    n = len(scores)
    accounts: dict[str, list[float]] = defaultdict(list)
    for contact, s in scores.items():
        accounts[account_of[contact]].append(s.score)
    account_scores = [sum(v) / len(v) for v in accounts.values()]
    return {
        "n": n,
        "mean": sum(s.score for s in scores.values()) / n if n else None,
        "types": {t.id: sum(s.composition[t.id] for s in scores.values()) / n for t in spec.types} if n else {},
        "bands": {b.name: sum(1 for s in scores.values() if s.band == b.name) / n for b in spec.bands} if n else {},
        "accounts": len(account_scores),
        "account_bands": {b.name: _share(account_scores, b.name, spec.bands) for b in spec.bands},
    }


def _share(scores: list[float], band: str, bands: Any) -> float:
    found = [band_for(s, bands) for s in scores]
    return sum(1 for f in found if f is not None and f.name == band) / len(scores) if scores else 0.0
