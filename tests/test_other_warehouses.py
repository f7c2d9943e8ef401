"""The SQL every shipped tree compiles to on Snowflake, BigQuery and Redshift (issue 20), which no
test here can run: planned as kpitree plans it for that engine (its dialect module, the column
types of the same tables), compiled with the engine's SQLAlchemy dialect, kept as a snapshot
under tests/sql_snapshots/ to review in a diff, and parsed and written back by sqlglot for that
engine with unsupported constructs raising, so one the engine lacks is caught here.

After a deliberate change of the SQL: ``KPITREE_UPDATE_SNAPSHOTS=1 pytest tests/test_other_warehouses.py``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
import sqlglot
from snowflake.sqlalchemy import snowdialect
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy_bigquery import BigQueryDialect
from sqlalchemy_redshift.dialect import RedshiftDialect_psycopg2
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from kpitree.alert.entities import crossing_watches
from kpitree.compute.batch import SegmentFilter, windows
from kpitree.compute.contact_scores import score_points, scored_contacts
from kpitree.compute.crossings import BEFORE, NOW, crossings_statement
from kpitree.compute.measures import plan_source_queries
from kpitree.compute.scores import plan_score_query, score_nodes
from kpitree.dialects import SqlDialect, dialect_for
from kpitree.errors import KpitreeError
from kpitree.sample.crm import CrmSpec, load_crm_exports, write_crm_exports
from kpitree.sample.generate import TABLES, SampleSpec, generate
from kpitree.tree import MetricTree, tree_calendar
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import Warehouse, open_warehouse
from tests.conftest import ROOT, SEED_TREES
from tests.engines import land

SNAPSHOTS = Path(__file__).resolve().parent / "sql_snapshots"
EXAMPLE_TREES = sorted((ROOT / "trees" / "examples").glob("*.yaml"))
TARGETS: dict[str, Dialect] = {
    "snowflake": snowdialect.dialect(),
    "bigquery": BigQueryDialect(),
    "redshift": RedshiftDialect_psycopg2(),
}
PERIODS = {"month": ("2026-10", "2026-09"), "week": ("2026-W43", "2026-W42")}


def _epoch_extract(node: Any) -> bool:
    return isinstance(node, exp.Extract) and node.this.name.upper() == "EPOCH"


def _civil_time_with_offset(node: Any) -> bool:
    return (
        isinstance(node, exp.Cast)
        and node.to.is_type(exp.DataType.Type.DATETIME)
        and isinstance(node.this, exp.Literal)
        and "+" in node.this.name
    )


# Constructs each engine lacks that sqlglot parses all the same (it knows the functions by name,
# not by engine): none may reach that engine's SQL. A function sqlglot does not know at all for
# the engine (an Anonymous node, such as DuckDB's quantile_cont) is refused on every engine.
LACKS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "bigquery": {
        "EXTRACT(EPOCH ...)": _epoch_extract,
        "PERCENTILE_CONT ... WITHIN GROUP (an aggregate; BigQuery's is a window function)": lambda n: isinstance(
            n, exp.WithinGroup
        ),
        "a DATETIME literal with an offset": _civil_time_with_offset,
    },
    "snowflake": {"UNIX_MICROS": lambda n: isinstance(n, exp.UnixMicros)},
    "redshift": {"UNIX_MICROS": lambda n: isinstance(n, exp.UnixMicros)},
}


class PlannedFor(Warehouse):
    """A DuckDB warehouse that plans its SQL as kpitree would for ``target`` (the column types are
    the DuckDB tables'); nothing planned for it runs."""

    target: SqlDialect

    @property
    def dialect(self) -> SqlDialect:
        return self.target


@pytest.fixture(scope="module")
def duckdb_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """DuckDB files holding the sample (the seed trees) and the CRM exports (the example trees)."""
    folder = tmp_path_factory.mktemp("warehouses")
    staging = duckdb.connect()
    generate(staging, SampleSpec(seed=3, activities=2000, end="2026-10"))
    sample = open_warehouse(f"duckdb:///{folder / 'sample.duckdb'}", writable=True)
    land(staging, sample, *TABLES)
    sample.dispose()
    exports = folder / "crm"
    write_crm_exports(CrmSpec(seed=5, accounts=20, leads_per_month=30), exports)
    crm = open_warehouse(f"duckdb:///{folder / 'crm.duckdb'}", writable=True)
    load_crm_exports(exports, crm)
    crm.dispose()
    return {"sample": str(folder / "sample.duckdb"), "crm": str(folder / "crm.duckdb")}


def _planned(tree: MetricTree, warehouse: Warehouse) -> list[ClauseElement]:
    """The statements one comparison of the tree's last period runs: per source, per score node,
    and the band crossings its alert rules watch."""
    calendar = tree_calendar(tree)
    batch = windows(calendar, [calendar.parse(p) for p in PERIODS[tree.grain]])
    segment = SegmentFilter()
    statements: list[ClauseElement] = [q.statement for q in plan_source_queries(tree, batch, segment, warehouse)]
    watches = crossing_watches(tree, None)
    for node in score_nodes(tree):
        statements.append(plan_score_query(tree, node, score_points(batch), segment, warehouse).statement)
        if node.id in watches:
            points = [score_points(batch)[0], score_points(batch)[1]]
            scored, _labels, _lacking = scored_contacts(tree, node, points, segment, warehouse)
            statements.append(crossings_statement(tree, node, watches[node.id], scored, warehouse, NOW, BEFORE))
    return statements


def _compiled(statement: ClauseElement, dialect: Dialect) -> str:
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})).strip()


def _cases() -> list[Any]:
    return [
        pytest.param(target, path, id=f"{target}-{path.stem}")
        for target in TARGETS
        for path in [*SEED_TREES, *EXAMPLE_TREES]
    ]


@pytest.mark.parametrize(("target", "path"), _cases())
def test_the_sql_a_tree_compiles_to_parses_for_the_engine(
    target: str, path: Path, duckdb_files: dict[str, str]
) -> None:
    tree = load_tree_or_raise(path)
    file = duckdb_files["sample" if path in SEED_TREES else "crm"]
    engine = sa.create_engine(f"duckdb:///{file}", connect_args={"read_only": True})
    warehouse = PlannedFor(f"duckdb:///{file}", engine)
    warehouse.target = dialect_for(target)
    try:
        texts = [_compiled(s, TARGETS[target]) for s in _planned(tree, warehouse)]
    except KpitreeError as refused:  # a construct the engine lacks, said before any SQL would run
        texts = [f"-- refused: {refused}"]
    finally:
        engine.dispose()
    snapshot = "\n\n;\n\n".join(texts) + "\n"
    for text in texts:
        if text.startswith("-- refused"):
            continue
        (parsed,) = sqlglot.parse(text, read=target, error_level=ErrorLevel.RAISE)
        assert parsed is not None
        parsed.sql(dialect=target, unsupported_level=ErrorLevel.RAISE)  # raises on what it cannot write
        unknown = sorted({node.name for node in parsed.find_all(exp.Anonymous)})
        assert not unknown, f"functions {target} does not have: {unknown}"
        for construct, found in LACKS[target].items():
            assert not any(found(node) for node in parsed.walk()), f"{target} has no {construct}"
    stored = SNAPSHOTS / target / f"{path.stem}.sql"
    if os.environ.get("KPITREE_UPDATE_SNAPSHOTS"):
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(snapshot, encoding="utf-8")
    assert stored.is_file(), f"no snapshot {stored}: run with KPITREE_UPDATE_SNAPSHOTS=1 and review it"
    assert snapshot == stored.read_text(encoding="utf-8")
