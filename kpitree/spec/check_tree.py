"""Checks of the tree-wide settings: timezone, schedule, people and teams, sources."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Collection
from pathlib import Path, PurePath

from kpitree.crontab import crontab_trigger
from kpitree.spec.columns import available_columns, own_columns, time_column
from kpitree.spec.edge import Draft
from kpitree.spec.issues import IssueCode
from kpitree.spec.models.sources import SourceSpec, where_columns
from kpitree.spec.sink import IssueSink
from kpitree.spec.suggest import did_you_mean
from kpitree.spec.time_format import TIME_FORMAT_HINT, time_format_problem
from kpitree.spec.yaml_source import YamlPath


@functools.cache
def _known_timezones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def timezone_problem(name: str) -> str | None:
    """None if ``name`` is an IANA timezone, else a hint."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return did_you_mean(name, _known_timezones(), "use an IANA name such as Europe/London or America/New_York")
    return None


def check_settings(draft: Draft, sink: IssueSink) -> None:
    spec = draft.spec
    hint = timezone_problem(spec.timezone)
    if hint:
        sink.error(("timezone",), IssueCode.UNKNOWN_TIMEZONE, f"unknown timezone {spec.timezone!r}", hint)
    if spec.schedule is not None:
        schedule_hint = timezone_problem(spec.schedule.timezone) if spec.schedule.timezone else None
        if schedule_hint:
            sink.error(
                ("schedule", "timezone"),
                IssueCode.UNKNOWN_TIMEZONE,
                f"unknown timezone {spec.schedule.timezone!r}",
                schedule_hint,
            )
        # A bad zone is reported above; the cron expression is still checked, against UTC.
        zone_ok = not (schedule_hint if spec.schedule.timezone else hint)
        try:
            crontab_trigger(spec.schedule.cron, (spec.schedule.timezone or spec.timezone) if zone_ok else "UTC")
        except ValueError as exc:
            sink.error(
                ("schedule", "cron"),
                IssueCode.INVALID_CRON,
                f"invalid cron {spec.schedule.cron!r}: {exc}",
                "five fields: minute hour day-of-month month day-of-week, e.g. '0 7 * * 1' for Mondays 07:00",
            )


def check_drill_columns(draft: Draft, sink: IssueSink) -> None:
    """``drill:`` names columns some source offers (its own, or a joined source's)."""
    offered = frozenset(c for source in draft.spec.sources.values() for c in own_columns(source))
    for index, column in enumerate(draft.spec.drill):
        if column not in offered:
            sink.error(
                ("drill", index),
                IssueCode.UNKNOWN_COLUMN,
                f"drill column {column!r} is not a column of any source",
                column_hint(column, offered),
            )


def check_team_members(draft: Draft, owners: Collection[str], sink: IssueSink) -> None:
    """Team members must be people (``owners``: person and team ids written in the file)."""
    people = {p.id for p in draft.spec.people} | (set(owners) - {t.id for t in draft.spec.teams})
    for team, path in zip(draft.spec.teams, draft.team_paths, strict=True):
        for index, member in enumerate(team.members):
            if member not in people:
                sink.error(
                    (*path, "members", index),
                    IssueCode.UNKNOWN_PERSON,
                    f"team member {member!r} is not in people",
                    did_you_mean(member, people, "add them under 'people:'"),
                )


def file_is_confined(tree_file: Path, file: str) -> bool:
    """Whether a source's ``file`` (relative to the tree file) lies inside the tree file's folder,
    symlinks resolved: a tree must not read files from elsewhere on the machine that runs it."""
    folder = tree_file.resolve().parent
    return (folder / file).resolve().is_relative_to(folder)


def _check_point_in_time(name: str, source: SourceSpec, sink: IssueSink) -> None:
    path = ("sources", name)
    if (source.valid_from is None) != (source.valid_to is None):
        present = "valid_from" if source.valid_from is not None else "valid_to"
        sink.error(
            (*path, present),
            IssueCode.MISSING_KEY,
            "a point-in-time source needs both valid_from and valid_to",
            "name the column where a row starts to hold and the one where it stops (NULL: still holds)",
            at_key=True,
        )
    if not source.is_point_in_time:
        return
    if source.time_column is not None:
        sink.error(
            (*path, "time_column"),
            IssueCode.INVALID_VALUE,
            "a point-in-time source is measured at instants, by valid_from and valid_to, not by a time column",
            "remove time_column, or remove valid_from and valid_to",
            at_key=True,
        )
    if source.dedupe:
        sink.error(
            (*path, "dedupe"),
            IssueCode.INVALID_VALUE,
            "dedupe is not supported on a point-in-time source",
            "each row is one span of time: remove dedupe, or dedupe the table before",
            at_key=True,
        )
    check_named_columns(source, ("valid_from", "valid_to"), name, own_columns(source), path, sink)


def check_sources(draft: Draft, sink: IssueSink) -> None:
    spec = draft.spec
    for name, source in spec.sources.items():
        path = ("sources", name)
        if (source.table is None) == (source.file is None):
            sink.error(
                path,
                IssueCode.SOURCE_LOCATION,
                f"source {name!r} needs exactly one of 'table' or 'file'",
                "table: for a warehouse table, file: for a CSV or Parquet file",
                at_key=True,
            )
        if source.file and not file_is_confined(Path(sink.doc.file), source.file):
            sink.error(
                (*path, "file"),
                IssueCode.SOURCE_LOCATION,
                f"source file {source.file!r} resolves outside the tree file's folder",
                "keep data files in the tree's folder or below it (symlinks are followed before this check), "
                "or load the file into the warehouse with 'kpitree load'",
            )
        _check_point_in_time(name, source, sink)
        if source.time_format is not None:
            problem = time_format_problem(source.time_format)
            if problem is not None:
                sink.error(
                    (*path, "time_format"),
                    IssueCode.INVALID_VALUE,
                    f"time_format {source.time_format!r} cannot be used: {problem}",
                    f"write it in {TIME_FORMAT_HINT}, e.g. '%m/%d/%Y %I:%M %p' for 8/24/2025 5:30 PM",
                )
            elif time_column(source) is None:
                sink.error(
                    (*path, "time_format"),
                    IssueCode.NO_TIME_COLUMN,
                    "time_format says how to read the time column, but the source has none",
                    "set time_column: to the column it reads",
                    at_key=True,
                )
        if source.file and PurePath(source.file).suffix.lower() not in (".csv", ".parquet", ".pq"):
            sink.error(
                (*path, "file"),
                IssueCode.UNSUPPORTED_FILE,
                f"{source.file!r} is neither CSV nor Parquet",
                "use a .csv or .parquet file",
            )
        for index, join in enumerate(source.joins):
            if join.source not in spec.sources:
                sink.error(
                    (*path, "joins", index, "source"),
                    IssueCode.UNKNOWN_SOURCE,
                    f"unknown source {join.source!r}",
                    did_you_mean(join.source, sorted(spec.sources), "declare it under 'sources:'"),
                )
            elif join.on not in own_columns(source) or join.on not in own_columns(spec.sources[join.source]):
                sink.error(
                    (*path, "joins", index, "on"),
                    IssueCode.UNKNOWN_COLUMN,
                    f"join column {join.on!r} must exist on both {name!r} and {join.source!r}",
                    "map it under 'columns:' of the source that lacks it",
                )
        columns = available_columns(spec, name) or frozenset()
        for column in sorted(where_columns(source.where)):
            if column not in columns:
                sink.error(
                    (*path, "where", column),
                    IssueCode.UNKNOWN_COLUMN,
                    f"source {name!r} has no column {column!r}",
                    column_hint(column, columns),
                    at_key=True,
                )
        for index, column in enumerate(source.dedupe):
            if column not in columns:
                sink.error(
                    (*path, "dedupe", index),
                    IssueCode.UNKNOWN_COLUMN,
                    f"source {name!r} has no column {column!r}",
                    column_hint(column, columns),
                )
        if source.time_column and source.time_column not in columns:
            sink.error(
                (*path, "time_column"),
                IssueCode.UNKNOWN_COLUMN,
                f"source {name!r} has no column {source.time_column!r}",
                column_hint(source.time_column, columns),
            )


def column_hint(column: str, columns: frozenset[str]) -> str:
    return did_you_mean(column, columns, "map it under the source's 'columns:'")


def check_named_columns(
    spec: object, keys: tuple[str, ...], source: str, columns: frozenset[str], path: YamlPath, sink: IssueSink
) -> None:
    """Each of ``spec``'s ``keys`` that names a column must name one of ``source``'s ``columns``."""
    for key in keys:
        column = getattr(spec, key)
        if column is not None and column not in columns:
            sink.error(
                (*path, key),
                IssueCode.UNKNOWN_COLUMN,
                f"source {source!r} has no column {column!r}",
                column_hint(column, columns),
            )
