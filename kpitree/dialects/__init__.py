"""What differs between warehouse engines, one module per engine, and nothing else: every
engine-specific piece of SQL kpitree writes (epoch seconds, a text-to-time parse, a percentile, a
DOUBLE literal, how a time compares with a period bound), the session set-up that pins the time
zone, and how a table's declared column types are read.

The rest of kpitree asks the warehouse's :class:`~kpitree.dialects.base.SqlDialect` and never
branches on an engine's name. An engine without a module of its own gets the ANSI defaults of
:class:`~kpitree.dialects.base.SqlDialect` (and a :class:`~kpitree.errors.WarehouseError` where it
lacks something a tree needs, before any SQL runs).

    SqlDialect (base: ANSI SQL, information_schema, else SQLAlchemy's inspector)
    ├── DuckDb       quantile_cont, strptime, numpy fetches, files read in place
    ├── Sqlite       times kept as text, PRAGMA table_info, no percentile, no time parsing
    ├── PostgreSql   percentile_cont WITHIN GROUP, to_timestamp templates, time zone in the options
    ├── SparkSql     unix_micros, to_timestamp patterns, DOUBLE casts for float literals,
    │                the session time zone set on connect, DESCRIBE for column types
    ├── Snowflake    epoch microseconds, the ISO day of week, DOUBLE casts  } compiled and parsed
    ├── BigQuery     UNIX_MICROS, no percentile aggregate                   } by sqlglot in the
    └── Redshift     PostgreSQL's SQL, DOUBLE casts, the zone set on connect } tests, not yet run
"""

from __future__ import annotations

from kpitree.dialects.base import SqlDialect
from kpitree.dialects.bigquery import BigQuery
from kpitree.dialects.duckdb import DuckDb
from kpitree.dialects.postgresql import PostgreSql
from kpitree.dialects.redshift import Redshift
from kpitree.dialects.snowflake import Snowflake
from kpitree.dialects.spark import SparkSql
from kpitree.dialects.sqlite import Sqlite

__all__ = ["SqlDialect", "dialect_for"]

_BY_NAME: dict[str, type[SqlDialect]] = {
    "duckdb": DuckDb,
    "sqlite": Sqlite,
    "postgresql": PostgreSql,
    "hive": SparkSql,  # PyHive's dialect: Spark's Thrift server speaks HiveServer2
    # Compiled and checked with sqlglot by the tests; not run against the engines here.
    "snowflake": Snowflake,
    "bigquery": BigQuery,
    "redshift": Redshift,
}


def dialect_for(name: str) -> SqlDialect:
    """The dialect for SQLAlchemy's dialect ``name`` (``engine.dialect.name``): the ANSI defaults
    for an engine kpitree has no module for."""
    return _BY_NAME.get(name, SqlDialect)(name)
