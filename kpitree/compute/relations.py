"""A tree source as SQL: its table (or file), its columns under the tree's names, the sources it
joins, the rows it keeps, and the expressions that place a row in time.

Only the columns a computation needs are selected, and a join is made only when one of its columns
is needed: joining accounts onto ten million activities costs time that a count does not need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from kpitree.compute.conditions import condition_expr
from kpitree.data_contract import ColumnType, contract_types
from kpitree.errors import WarehouseError
from kpitree.spec.columns import time_column
from kpitree.spec.models import SourceSpec
from kpitree.tree import MetricTree
from kpitree.warehouse import Warehouse

Bound = datetime | date


@dataclass(frozen=True)
class SourceRelation:
    """One source, ready to select from: the FROM clause and its columns by tree name."""

    source_id: str
    spec: SourceSpec
    from_clause: FromClause
    columns: Mapping[str, ColumnElement[Any]]
    time_name: str | None
    time_is_date: bool
    dialect: str

    def column(self, name: str) -> ColumnElement[Any]:
        return self.columns[name]

    @property
    def time(self) -> ColumnElement[Any]:
        """The time column, normalised so that it compares with :meth:`bound` on every engine."""
        if self.time_name is None:
            raise WarehouseError(f"source {self.source_id!r} has no time column")
        column = self.columns[self.time_name]
        if self.dialect == "sqlite":
            # SQLite keeps times as text; datetime()/date() rewrite any ISO form (T separator,
            # offsets) to UTC 'YYYY-MM-DD HH:MM:SS', which then compares correctly as text.
            return sa.func.date(column) if self.time_is_date else sa.func.datetime(column)
        return column

    def bound(self, instant: datetime, day: date) -> Any:
        """A period bound as a literal for :attr:`time`: the local day for date columns, else the instant."""
        if self.time_is_date:
            return day.isoformat() if self.dialect == "sqlite" else day
        utc = instant.astimezone(UTC)
        if self.dialect == "sqlite":
            return utc.strftime("%Y-%m-%d %H:%M:%S")
        return utc

    def epoch_seconds(self) -> ColumnElement[Any]:
        """The time column as seconds since 1970 (UTC), a float on every engine."""
        # DOUBLE, never FLOAT: a 32-bit float holds epoch seconds only to about two minutes.
        return sa.cast(sa.extract("epoch", self.columns[self.time_name or ""]), sa.Double())

    def keep_rows(self) -> list[ColumnElement[bool]]:
        """The source's own ``where``: rows every measure on it keeps."""
        return [condition_expr(self.columns[name], cond) for name, cond in self.spec.where.items()]


def needed_columns(source: SourceSpec, extra: Iterable[str]) -> set[str]:
    """Columns a query over ``source`` reads: its filters, dedupe keys, time column and ``extra``."""
    names = set(extra) | set(source.where) | set(source.dedupe)
    time_name = time_column(source)
    if time_name:
        names.add(time_name)
    return names


def build_relation(tree: MetricTree, source_id: str, needed: Iterable[str], warehouse: Warehouse) -> SourceRelation:
    """The FROM clause of ``source_id`` with every column in ``needed`` (tree names) resolved."""
    spec = tree.sources[source_id]
    needed = set(needed)
    base, base_columns = _open_source(tree, source_id, warehouse)
    resolved = {name: col for name, col in base_columns.items() if name in needed}
    from_clause: FromClause = base
    for join in spec.joins:
        wanted = needed - set(resolved)
        if not wanted:
            break
        joined, joined_columns = _open_source(tree, join.source, warehouse, alias=f"j_{join.source}")
        useful = {name: col for name, col in joined_columns.items() if name in wanted and name != join.on}
        if not useful:
            continue
        if join.on not in base_columns or join.on not in joined_columns:
            raise WarehouseError(
                f"cannot join source {source_id!r} to {join.source!r}: both need column {join.on!r}",
                hint=f"map {join.on!r} under 'columns:' of the source that names it differently",
            )
        from_clause = from_clause.outerjoin(joined, base_columns[join.on] == joined_columns[join.on])
        resolved.update(useful)
    missing = sorted(needed - set(resolved))
    if missing:
        raise WarehouseError(
            f"source {source_id!r} ({_where(spec)}) has no column {', '.join(map(repr, missing))} in the warehouse",
            hint="map the tree's name to the warehouse's under the source's 'columns:', or load the column",
        )
    time_name = time_column(spec)
    return SourceRelation(
        source_id=source_id,
        spec=spec,
        from_clause=from_clause,
        columns=resolved,
        time_name=time_name,
        time_is_date=_is_date(spec, time_name, resolved),
        dialect=warehouse.dialect,
    )


def _where(spec: SourceSpec) -> str:
    return f"table {spec.table}" if spec.table else f"file {spec.file}"


def _open_source(
    tree: MetricTree, source_id: str, warehouse: Warehouse, alias: str | None = None
) -> tuple[FromClause, dict[str, ColumnElement[Any]]]:
    """A source's table (or file) and its columns under the tree's names."""
    spec = tree.sources[source_id]
    relation: FromClause
    if spec.file:
        physical = _file_columns(tree, spec, warehouse)
        path = _file_path(tree, spec)
        relation = getattr(sa.func, _reader(path))(str(path)).table_valued(*physical)
    else:
        table_name = spec.table or source_id
        types = warehouse.columns(table_name)
        physical = list(types)
        schema, _, name = table_name.rpartition(".")
        relation = sa.table(name, *(sa.column(c, _sql_type(t)) for c, t in types.items()), schema=schema or None)
    if alias:
        relation = relation.alias(alias)
    tree_to_physical = {name: name for name in contract_types(spec.contract)}
    tree_to_physical.update({name: (physical_name or name) for name, physical_name in spec.columns.items()})
    columns: dict[str, ColumnElement[Any]] = {
        name: relation.c[physical_name] for name, physical_name in tree_to_physical.items() if physical_name in physical
    }
    return relation, columns


def _file_path(tree: MetricTree, spec: SourceSpec) -> Path:
    """The source file, checked again where it is read: a symlink may have changed since validation."""
    folder = tree.path.resolve().parent
    path = (folder / (spec.file or "")).resolve()
    if not path.is_relative_to(folder):
        raise WarehouseError(
            f"source file {spec.file} resolves outside the tree's folder {folder}",
            hint="keep data files in the tree's folder or below it, or load them with 'kpitree load'",
        )
    return path


def _reader(path: Path) -> str:
    return "read_parquet" if path.suffix.lower() in (".parquet", ".pq") else "read_csv_auto"


def _file_columns(tree: MetricTree, spec: SourceSpec, warehouse: Warehouse) -> list[str]:
    if not warehouse.is_duckdb:
        raise WarehouseError(
            f"file sources ({spec.file}) are read in place by DuckDB; the warehouse is {warehouse.dialect}",
            hint="load the file with 'kpitree load FILE --table NAME' and name the table in the source",
        )
    path = _file_path(tree, spec)
    if not path.exists():
        raise WarehouseError(f"source file {path} does not exist", hint="the path is relative to the tree file")
    probe = sa.select(sa.text("*")).select_from(getattr(sa.func, _reader(path))(str(path))).limit(0)
    with warehouse.connect() as connection:
        return list(connection.execute(probe).keys())


def _is_date(spec: SourceSpec, time_name: str | None, columns: Mapping[str, ColumnElement[Any]]) -> bool:
    if time_name is None:
        return False
    contract = contract_types(spec.contract)
    if time_name in contract and time_name not in spec.columns:
        return contract[time_name] is ColumnType.DATE
    column_type = columns[time_name].type if time_name in columns else None
    return isinstance(column_type, sa.Date) and not isinstance(column_type, sa.DateTime)


def _sql_type(declared: str) -> sa.types.TypeEngine[Any]:
    """Enough of a reflected type to tell a date from a timestamp (the rest is left to the engine)."""
    if declared == "DATE":
        return sa.Date()
    if declared.startswith("TIMESTAMP") or declared.startswith("DATETIME"):
        return sa.DateTime()
    return sa.types.NullType()
