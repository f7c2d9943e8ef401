"""Checks of how a measure node is computed: its source, aggregate, column, point in time and split."""

from __future__ import annotations

from kpitree.spec.check_tree import column_hint
from kpitree.spec.columns import available_columns, is_untimed, time_column
from kpitree.spec.edge import Draft
from kpitree.spec.issues import IssueCode
from kpitree.spec.models import MeasureSpec, SplitSpec
from kpitree.spec.models.sources import SourceSpec, where_columns
from kpitree.spec.sink import IssueSink
from kpitree.spec.suggest import did_you_mean
from kpitree.spec.yaml_source import YamlPath


def check_measure(draft: Draft, path: YamlPath, measure: MeasureSpec, sink: IssueSink) -> None:
    m_path = (*path, "measure")
    columns = available_columns(draft.spec, measure.source)
    if columns is None:
        sink.error(
            (*m_path, "source"),
            IssueCode.UNKNOWN_SOURCE,
            f"unknown source {measure.source!r}",
            did_you_mean(measure.source, draft.spec.sources, "declare it under 'sources:'"),
        )
        return
    source = draft.spec.sources[measure.source]
    check_instant(m_path, measure, source, columns, sink)
    half_point_in_time = source.valid_to is not None  # its missing valid_from is reported on the source
    if (
        time_column(source) is None
        and not is_untimed(source)
        and not source.is_point_in_time
        and not half_point_in_time
    ):
        sink.error(
            (*m_path, "source"),
            IssueCode.NO_TIME_COLUMN,
            f"source {measure.source!r} has no time column",
            "set 'time_column:' on the source so its rows fall into periods, or 'time_column: null' "
            "for a source whose rows count in every period (a roster)",
        )
    if measure.column is None and measure.agg != "count" and not sink.pruned_within(m_path):
        sink.error(
            (*m_path, "agg"),
            IssueCode.MISSING_COLUMN,
            f"{measure.agg} needs a column",
            "add 'column:' naming the column to aggregate",
        )
    if measure.agg == "percentile" and measure.p is None:
        sink.error(
            (*m_path, "agg"),
            IssueCode.MISSING_KEY,
            "a percentile needs p, the fraction it is at",
            "add 'p: 0.9' for the 90th percentile (p: 0.5 is the median)",
        )
    if measure.p is not None and measure.agg != "percentile":
        sink.error(
            (*m_path, "p"),
            IssueCode.INVALID_VALUE,
            f"p is for agg: percentile, not {measure.agg}",
            "remove p, or set agg: percentile",
            at_key=True,
        )
    if measure.column is not None and measure.column not in columns:
        sink.error(
            (*m_path, "column"),
            IssueCode.UNKNOWN_COLUMN,
            f"source {measure.source!r} has no column {measure.column!r}",
            column_hint(measure.column, columns),
        )
    for column in sorted(where_columns(measure.where)):
        if column not in columns:
            sink.error(
                (*m_path, "where", column),
                IssueCode.UNKNOWN_COLUMN,
                f"source {measure.source!r} has no column {column!r}",
                column_hint(column, columns),
                at_key=True,
            )


def check_instant(
    m_path: YamlPath, measure: MeasureSpec, source: SourceSpec, columns: frozenset[str], sink: IssueSink
) -> None:
    """``at`` and ``cohort`` belong to measures on point-in-time sources, which need ``at``."""
    if source.is_point_in_time and measure.at is None:
        sink.error(
            (*m_path, "source"),
            IssueCode.MISSING_KEY,
            f"a measure on point-in-time source {measure.source!r} says when: at: start or at: end",
            "at: start is the value as the period opens; at: end as it closes",
        )
    if not source.is_point_in_time:
        for key in ("at", "cohort"):
            if getattr(measure, key) is not None:
                sink.error(
                    (*m_path, key),
                    IssueCode.INVALID_VALUE,
                    f"{key} is for measures on a point-in-time source (with valid_from and valid_to); "
                    f"{measure.source!r} is not one",
                    f"remove {key}, or give the source valid_from and valid_to",
                    at_key=True,
                )
    if measure.cohort is not None and measure.cohort.entity not in columns:
        sink.error(
            (*m_path, "cohort", "entity"),
            IssueCode.UNKNOWN_COLUMN,
            f"source {measure.source!r} has no column {measure.cohort.entity!r}",
            column_hint(measure.cohort.entity, columns),
        )


def check_split(draft: Draft, path: YamlPath, split: SplitSpec, measure: MeasureSpec, sink: IssueSink) -> None:
    columns = available_columns(draft.spec, measure.source)
    if columns is not None and split.by not in columns:
        sink.error(
            (*path, "by"),
            IssueCode.UNKNOWN_COLUMN,
            f"cannot split on {split.by!r}: source {measure.source!r} does not map that column",
            column_hint(split.by, columns),
        )
    seen: dict[str, str] = {}
    others = 0
    for index, branch in enumerate(split.branches):
        b_path = (*path, "branches", index)
        if branch.other:
            others += 1
            if others > 1:
                sink.error(
                    (*b_path, "other"),
                    IssueCode.SPLIT_BRANCHES,
                    "only one branch can take 'other: true'",
                    "merge the catch-all branches",
                )
        if (branch.values is None) == (not branch.other):
            sink.error(
                (*b_path, "id"),
                IssueCode.SPLIT_BRANCHES,
                f"branch {branch.id!r} needs 'values:' or 'other: true'",
                "list the split column's values this branch takes, or make it the catch-all",
            )
        for value in branch.values or []:
            if str(value) in seen:
                sink.error(
                    (*b_path, "values"),
                    IssueCode.SPLIT_BRANCHES,
                    f"value {value!r} is in both {seen[str(value)]!r} and {branch.id!r}",
                    "each value belongs to one branch, so the branches add up to the parent",
                )
            seen[str(value)] = branch.id
        if branch.split is not None:
            check_split(draft, (*b_path, "split"), branch.split, measure, sink)
