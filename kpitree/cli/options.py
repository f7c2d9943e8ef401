"""Options shared by the commands. Kept free of heavy imports: every command loads this."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kpitree.durations import Duration, DurationError, Unit, parse_duration

DEFAULT_REPORTS_DIR = Path(".kpitree") / "reports"  # reports and entity lists, per tree

F = TypeVar("F", bound=Callable[..., Any])

TREES_DIR_OPTION = click.option(
    "--trees-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where tree ids are looked up [default: $KPITREE_TREES, ./trees, or the shipped trees].",
)


def warehouse_option(command: F) -> F:
    return click.option(
        "--warehouse",
        metavar="URL",
        default=None,
        help="SQLAlchemy URL of the warehouse [default: $KPITREE_WAREHOUSE, else .kpitree/warehouse.duckdb].",
    )(command)


def state_option(command: F) -> F:
    return click.option(
        "--state-db",
        metavar="URL",
        default=None,
        help="SQLAlchemy URL of the state database [default: $KPITREE_STATE_DB, else .kpitree/state.db].",
    )(command)


def period_option(command: F) -> F:
    return click.option(
        "--period",
        metavar="PERIOD",
        default=None,
        help="2026-10, 2026-Q3, 2026-W43, FY2026, FY2026-Q2 or 2026-10-01..2026-10-31 "
        "[default: the last closed period of the tree's grain].",
    )(command)


def reports_dir_option(what: str) -> Callable[[F], F]:
    """``--reports-dir``: where a run writes ``what`` (run and schedule)."""
    return click.option(
        "--reports-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_REPORTS_DIR,
        show_default=True,
        help=f"Where the run writes {what}.",
    )


class DurationType(click.ParamType[Duration]):
    """A duration option in the units it takes (docs/cli.md, "Durations"): one syntax everywhere."""

    name = "duration"

    def __init__(self, units: frozenset[Unit]) -> None:
        self.units = units

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Duration:
        if isinstance(value, Duration):
            return value
        try:
            return parse_duration(str(value), self.units)
        except DurationError as error:
            self.fail(f"{error} ({error.hint})" if error.hint else str(error), param, ctx)
