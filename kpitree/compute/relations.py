"""A tree source as SQL: its table (or file), its columns under the tree's names, the sources it
joins, the rows it keeps, and the expressions that place a row in time.

Only the columns a computation needs are selected, and a join is made only when one of its columns
is needed: joining accounts onto ten million activities costs time that a count does not need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from kpitree.compute.column_types import Kind, kind_of, parse_time, sql_type
from kpitree.compute.conditions import where_exprs
from kpitree.compute.derived import dependencies, derive, derived_names
from kpitree.data_contract import ColumnType, contract_types
from kpitree.dialects import SqlDialect
from kpitree.errors import WarehouseError
from kpitree.spec.columns import time_column
from kpitree.spec.models import SourceSpec
from kpitree.spec.models.sources import JoinSpec, where_columns
from kpitree.spec.time_format import TIME_FORMAT_HINT, is_date_only
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
    dialect: SqlDialect
    kinds: Mapping[str, Kind] = field(default_factory=dict)  # by tree name, as the warehouse declares them
    joins: tuple[str, ...] = ()  # the joined sources this relation reads
    # Column (tree name) -> the join it is read through; the source's own columns are not here. A
    # caller holding the join key can read such a column from the joined source by key alone.
    supplied_by: Mapping[str, JoinSpec] = field(default_factory=dict)

    def kind(self, name: str) -> Kind:
        return self.kinds.get(name, Kind.UNKNOWN)

    def column(self, name: str) -> ColumnElement[Any]:
        return self.columns[name]

    @property
    def time(self) -> ColumnElement[Any]:
        """The time column, normalised so that it compares with :meth:`bound` on every engine."""
        if self.time_name is None:
            raise WarehouseError(f"source {self.source_id!r} has no time column")
        return self.dialect.comparable_time(self.columns[self.time_name], self.time_is_date)

    def bound(self, instant: datetime, day: date) -> Any:
        """A period bound as a literal for :attr:`time`: the local day for date columns, else the instant."""
        return self.dialect.time_bound(instant.astimezone(UTC), day, self.time_is_date)

    def epoch_seconds(self) -> ColumnElement[Any]:
        """The time column as seconds since 1970 (UTC), a float on every engine."""
        return self.dialect.epoch_seconds(self.columns[self.time_name or ""])

    def keep_rows(self) -> list[ColumnElement[bool]]:
        """The source's own ``where``: rows every measure on it keeps."""
        return where_exprs(self.columns, self.spec.where)


def computing(tree: MetricTree, source_id: str, nodes: Sequence[str]) -> str:
    """What a statement computes, for the error the warehouse may answer with."""
    plural = "s" if len(nodes) > 1 else ""
    return f"computing tree {tree.id!r}, source {source_id!r}, node{plural} {', '.join(map(repr, nodes))}"


def needed_columns(source: SourceSpec, extra: Iterable[str]) -> set[str]:
    """Columns a query over ``source`` reads: its filters, dedupe keys, time column and ``extra``."""
    names = set(extra) | set(where_columns(source.where)) | set(source.dedupe)
    names |= {column for column in (source.valid_from, source.valid_to) if column}
    time_name = time_column(source)
    if time_name:
        names.add(time_name)
    return names


def build_relation(tree: MetricTree, source_id: str, needed: Iterable[str], warehouse: Warehouse) -> SourceRelation:
    """The FROM clause of ``source_id`` with every column in ``needed`` (tree names) resolved."""
    spec = tree.sources[source_id]
    needed = dependencies(spec, set(needed))  # with what its computed columns read
    base, base_columns, kinds = _open_source(tree, source_id, warehouse)
    resolved = {name: col for name, col in base_columns.items() if name in needed}

    def related(child: str, columns: set[str]) -> tuple[FromClause, Mapping[str, ColumnElement[Any]], list[Any]]:
        relation = build_relation(tree, child, needed_columns(tree.sources[child], columns), warehouse)
        return relation.from_clause, relation.columns, relation.keep_rows()

    available = dict(base_columns)
    wanted = needed & derived_names(spec)
    from_clause: FromClause = derive(source_id, spec, wanted, base, available, kinds, related, warehouse.dialect)
    resolved.update({name: available[name] for name in wanted})
    joins_used: list[str] = []
    supplied_by: dict[str, JoinSpec] = {}
    for join in spec.joins:
        filters = tree.sources[join.source].where
        wanted = needed - set(resolved)
        if not wanted and not filters:
            continue
        joined, joined_columns, joined_kinds = _open_source(tree, join.source, warehouse, alias=f"j_{join.source}")
        useful = {name: col for name, col in joined_columns.items() if name in wanted and name != join.on}
        if not useful and not filters:
            continue
        if join.on not in base_columns or join.on not in joined_columns:
            raise WarehouseError(
                f"cannot join source {source_id!r} to {join.source!r}: both need column {join.on!r}",
                hint=f"map {join.on!r} under 'columns:' of the source that names it differently",
                source=source_id,
            )
        matches = base_columns[join.on] == joined_columns[join.on]
        if filters:
            # The joined source's own rows: an inner join on its filtered rows keeps only the rows
            # whose match passes them ("opportunities of Enterprise accounts").
            missing_filters = sorted(where_columns(filters) - set(joined_columns))
            if missing_filters:
                raise WarehouseError(
                    f"source {join.source!r} filters on {', '.join(missing_filters)}, which it does not have",
                    source=join.source,
                    key="where",
                )
            kept = where_exprs(joined_columns, filters)
            from_clause = from_clause.join(joined, sa.and_(matches, *kept))
        else:
            from_clause = from_clause.outerjoin(joined, matches)
        joins_used.append(join.source)
        kinds = {**{name: joined_kinds[name] for name in useful if name in joined_kinds}, **kinds}
        resolved.update(useful)
        supplied_by.update(dict.fromkeys(useful, join))
    missing = sorted(needed - set(resolved))
    if missing:
        raise WarehouseError(
            f"source {source_id!r} ({_where(spec)}) has no column {', '.join(map(repr, missing))} in the warehouse",
            hint="map the tree's name to the warehouse's under the source's 'columns:', or load the column",
        )
    time_name = time_column(spec)
    time_is_date = _is_date(spec, time_name, resolved)
    if time_name is not None:
        resolved[time_name], time_is_date = _readable_time(
            source_id, spec, time_name, resolved[time_name], kinds.get(time_name, Kind.UNKNOWN), time_is_date, warehouse
        )
    return SourceRelation(
        source_id=source_id,
        spec=spec,
        from_clause=from_clause,
        columns=resolved,
        time_name=time_name,
        time_is_date=time_is_date,
        dialect=warehouse.dialect,
        kinds=kinds,
        joins=tuple(joins_used),
        supplied_by=supplied_by,
    )


def _readable_time(
    source_id: str,
    spec: SourceSpec,
    name: str,
    column: ColumnElement[Any],
    kind: Kind,
    is_date: bool,
    warehouse: Warehouse,
) -> tuple[ColumnElement[Any], bool]:
    """The time column as something that compares with period bounds, and whether it is a date.
    Text is read with the source's ``time_format``; text without one is refused (it would not
    compare with a timestamp on DuckDB or PostgreSQL), as are numbers and booleans."""
    if spec.time_format:
        return parse_time(column, spec.time_format, warehouse.dialect, source_id), is_date_only(spec.time_format)
    if kind in (Kind.TEXT, Kind.UNKNOWN) and warehouse.dialect.keeps_times_as_text:
        # SQLite keeps times as text and reads only ISO 8601: a row whose time it cannot read would
        # silently fall out of every period, so one such row is an error.
        unreadable, dates_only = warehouse.text_times(column, spec.table or source_id)
        if unreadable is None and dates_only:
            return column, True  # text dates (an untyped load's 2026-10-01): compared by day, like DATE
        if unreadable is not None:
            raise WarehouseError(
                f"the time column {name!r} of source {source_id!r} ({_where(spec)}) holds {unreadable!r}, "
                "which SQLite cannot read as a time (it reads ISO 8601: 2026-10-01 18:00:00)",
                hint="load the file with 'kpitree load' (a contract, or --infer-types), which writes ISO times, "
                "or use DuckDB or PostgreSQL with time_format",
                source=source_id,
                key="time_column",
            )
    elif kind is Kind.TEXT:
        raise WarehouseError(
            f"the time column {name!r} of source {source_id!r} ({_where(spec)}) is text, not a date or timestamp",
            hint=f"say how to read it with time_format on the source, e.g. time_format: '%m/%d/%Y %I:%M %p' "
            f"({TIME_FORMAT_HINT}); or load the file typed "
            "('kpitree load --no-contract --infer-types' types ISO dates and times)",
            source=source_id,
            key="time_column",
        )
    if kind in (Kind.NUMBER, Kind.BOOLEAN):
        raise WarehouseError(
            f"the time column {name!r} of source {source_id!r} ({_where(spec)}) is a {kind.value} column, not a time",
            hint="point time_column at the column that says when each row happened",
            source=source_id,
            key="time_column",
        )
    return column, is_date


def repeated_join_keys(tree: MetricTree, source_id: str, joined_id: str, warehouse: Warehouse) -> int:
    """How many values of the join key stand on more than one (kept) row of ``joined_id``: each
    row of ``source_id`` matching one of them is counted once per matching row, so its measures
    would be inflated. One aggregate query over the joined source (a dimension table, usually small)."""
    join = next(j for j in tree.sources[source_id].joins if j.source == joined_id)
    spec = tree.sources[joined_id]
    relation, columns, _ = _open_source(tree, joined_id, warehouse)
    key = columns[join.on]
    kept = where_exprs(columns, spec.where) if where_columns(spec.where) <= set(columns) else []
    repeated = (
        sa.select(key).select_from(relation).where(*kept, key.is_not(None)).group_by(key).having(sa.func.count() > 1)
    )
    statement = sa.select(sa.func.count()).select_from(repeated.subquery())
    with warehouse.reading(
        f"checking the join of {source_id!r} to {joined_id!r} on {join.on!r}", source=joined_id
    ) as c:
        return int(c.execute(statement).scalar_one())


def _where(spec: SourceSpec) -> str:
    return f"table {spec.table}" if spec.table else f"file {spec.file}"


def _open_source(
    tree: MetricTree, source_id: str, warehouse: Warehouse, alias: str | None = None
) -> tuple[FromClause, dict[str, ColumnElement[Any]], dict[str, Kind]]:
    """A source's table (or file), its columns under the tree's names, and their kinds."""
    spec = tree.sources[source_id]
    relation: FromClause
    if spec.file:
        types = _file_columns(tree, spec, warehouse)
        path = _file_path(tree, spec)
        typed = [sa.column(c, sql_type(t)) for c, t in types.items()]
        relation = getattr(sa.func, _reader(path))(str(path)).table_valued(*typed)
    else:
        table_name = spec.table or source_id
        try:
            types = warehouse.columns(table_name)
        except WarehouseError as exc:  # say which source wanted the table, for validate --warehouse
            raise WarehouseError(str(exc), hint=exc.hint, source=source_id, key="table") from None
        schema, _, name = table_name.rpartition(".")
        relation = sa.table(name, *(sa.column(c, sql_type(t)) for c, t in types.items()), schema=schema or None)
    if alias:
        relation = relation.alias(alias)
    tree_to_physical = {name: name for name in contract_types(spec.contract)}
    tree_to_physical.update(spec.physical_columns())
    present = {name: physical for name, physical in tree_to_physical.items() if physical in types}
    columns: dict[str, ColumnElement[Any]] = {name: relation.c[physical] for name, physical in present.items()}
    return relation, columns, {name: kind_of(types[physical]) for name, physical in present.items()}


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


def _file_columns(tree: MetricTree, spec: SourceSpec, warehouse: Warehouse) -> dict[str, str]:
    """A file's columns and the types DuckDB reads them as (its CSV sniffer, or Parquet's schema)."""
    if not warehouse.dialect.reads_files_in_place:
        raise WarehouseError(
            f"file sources ({spec.file}) are read in place by DuckDB; the warehouse is "
            f"{warehouse.dialect.display_name}",
            hint="load the file with 'kpitree load FILE --table NAME' and name the table in the source",
        )
    path = _file_path(tree, spec)
    if not path.exists():
        raise WarehouseError(f"source file {path} does not exist", hint="the path is relative to the tree file")
    probe = sa.select(sa.text("*")).select_from(getattr(sa.func, _reader(path))(str(path)))
    described = sa.text(f"DESCRIBE {probe.compile(compile_kwargs={'literal_binds': True})}")
    with warehouse.connect() as connection:
        try:
            rows = connection.execute(described).all()
        except sa.exc.DBAPIError as exc:
            raise WarehouseError(
                f"cannot read source file {path}: {warehouse.engine_message(exc)}", source=spec.file
            ) from None
    return {str(row[0]): str(row[1]).upper() for row in rows}


def _is_date(spec: SourceSpec, time_name: str | None, columns: Mapping[str, ColumnElement[Any]]) -> bool:
    if time_name is None:
        return False
    contract = contract_types(spec.contract)
    if time_name in contract and time_name not in spec.columns:
        return contract[time_name] is ColumnType.DATE
    column_type = columns[time_name].type if time_name in columns else None
    return isinstance(column_type, sa.Date) and not isinstance(column_type, sa.DateTime)
