"""Checks of the columns a source derives: computed ones (``{expr: ...}``) and roll-ups."""

from __future__ import annotations

import graphlib

from kpitree.expressions import ExpressionError, columns_of, parse_expression
from kpitree.spec.check_tree import column_hint
from kpitree.spec.columns import own_columns
from kpitree.spec.edge import Draft
from kpitree.spec.issues import IssueCode
from kpitree.spec.models.sources import SourceSpec, where_columns
from kpitree.spec.sink import IssueSink
from kpitree.spec.suggest import did_you_mean


def check_derived_columns(draft: Draft, sink: IssueSink) -> None:
    for name, source in draft.spec.sources.items():
        _check_computed(name, source, sink)
        _check_rollups(draft, name, source, sink)


def _check_computed(source_id: str, source: SourceSpec, sink: IssueSink) -> None:
    columns = own_columns(source)
    graph: dict[str, set[str]] = {}
    for name, computed in source.computed_columns().items():
        path = ("sources", source_id, "columns", name, "expr")
        try:
            expression = parse_expression(computed.expr)
        except ExpressionError as exc:
            sink.error(path, IssueCode.COLUMN_EXPRESSION, f"column {name!r}: {exc}", exc.hint, offset=exc.offset)
            continue
        reads = columns_of(expression)
        for column in reads:
            if column.name not in columns:
                sink.error(
                    path,
                    IssueCode.UNKNOWN_COLUMN,
                    f"column {name!r} reads {column.name!r}, which source {source_id!r} does not have",
                    column_hint(column.name, columns),
                    offset=column.offset,
                )
        graph[name] = {column.name for column in reads if column.name in source.computed_columns()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        sink.error(
            ("sources", source_id, "columns", cycle[0]),
            IssueCode.CYCLE,
            f"computed columns read each other in a circle: {' -> '.join(cycle)}",
            "one of them must be computed from the source's own columns",
            at_key=True,
        )


def _check_rollups(draft: Draft, source_id: str, source: SourceSpec, sink: IssueSink) -> None:
    sources = draft.spec.sources
    for name, rollup in source.rollup_columns().items():
        path = ("sources", source_id, "columns", name, "rollup")
        related = sources.get(rollup.source)
        if related is None:
            sink.error(
                (*path, "source"),
                IssueCode.UNKNOWN_SOURCE,
                f"roll-up {name!r} reads unknown source {rollup.source!r}",
                did_you_mean(rollup.source, sorted(sources), "declare it under 'sources:'"),
            )
            continue
        theirs = own_columns(related)
        ours_physical = own_columns(source) - set(source.computed_columns()) - set(source.rollup_columns())
        if len(rollup.on) != 1:
            sink.error(
                (*path, "on"),
                IssueCode.INVALID_VALUE,
                f"roll-up {name!r} needs exactly one pair in 'on', got {len(rollup.on)}",
                "write on: {their_column: our_column}, e.g. on: {WhoId: Id}",
            )
        for their, ours in rollup.on.items():
            if their not in theirs:
                sink.error(
                    (*path, "on"),
                    IssueCode.UNKNOWN_COLUMN,
                    f"source {rollup.source!r} has no column {their!r}",
                    column_hint(their, theirs),
                )
            if ours not in ours_physical:
                sink.error(
                    (*path, "on"),
                    IssueCode.UNKNOWN_COLUMN,
                    f"roll-up {name!r} joins on {ours!r}, which source {source_id!r} does not have in the warehouse",
                    "the key must be one of the source's own columns (not a derived one)",
                )
        if rollup.agg != "count" and rollup.column is None:
            sink.error(
                (*path, "agg"),
                IssueCode.MISSING_COLUMN,
                f"roll-up {name!r}: a {rollup.agg} needs a column of {rollup.source!r}",
                "add column: naming the column to aggregate",
            )
        for column in sorted({*([rollup.column] if rollup.column else []), *where_columns(rollup.where)}):
            if column not in theirs:
                sink.error(
                    path,
                    IssueCode.UNKNOWN_COLUMN,
                    f"roll-up {name!r}: source {rollup.source!r} has no column {column!r}",
                    column_hint(column, theirs),
                )
