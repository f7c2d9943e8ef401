"""Amazon Redshift: PostgreSQL's SQL, compiled and checked with sqlglot in the tests, not yet run
against the engine."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from kpitree.dialects.base import cast_float_parameters, set_on_connect
from kpitree.dialects.postgresql import PostgreSql


class Redshift(PostgreSql):
    title = "Amazon Redshift"

    def connect_args(self) -> dict[str, Any]:
        return {}  # Redshift takes no startup options: the zone is set on connect instead

    def prepare_engine(self, engine: Engine) -> None:
        set_on_connect(engine, "SET timezone TO 'UTC'")


# psycopg2 writes parameters into the statement's text, where 1.0 is a NUMERIC(2,1), and
# Redshift's AVG keeps its argument's scale.
cast_float_parameters("redshift")
