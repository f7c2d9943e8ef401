"""Checks of a score node's definition, and of the bands and targets every node may carry."""

from __future__ import annotations

import itertools

from kpitree.spec.check_tree import check_named_columns, column_hint
from kpitree.spec.columns import available_columns
from kpitree.spec.edge import Draft
from kpitree.spec.issues import IssueCode
from kpitree.spec.models import BandSpec, ScoreSpec, TargetSpec
from kpitree.spec.sink import IssueSink
from kpitree.spec.suggest import did_you_mean
from kpitree.spec.yaml_source import YamlPath


def check_score(draft: Draft, path: YamlPath, score: ScoreSpec, sink: IssueSink) -> None:
    columns = available_columns(draft.spec, score.source)
    if columns is None:
        sink.error(
            (*path, "source"),
            IssueCode.UNKNOWN_SOURCE,
            f"unknown source {score.source!r}",
            did_you_mean(score.source, draft.spec.sources, "declare it under 'sources:'"),
        )
    else:
        check_named_columns(score, ("entity", "signal_column", "quantity_column"), score.source, columns, path, sink)
        for index, roll_up in enumerate(score.roll_up):
            if roll_up.entity not in columns:
                sink.error(
                    (*path, "roll_up", index, "entity"),
                    IssueCode.UNKNOWN_COLUMN,
                    f"source {score.source!r} has no column {roll_up.entity!r}",
                    column_hint(roll_up.entity, columns),
                )
    signal_owner: dict[str, str] = {}
    for t_index, etype in enumerate(score.types):
        for s_index, signal in enumerate(etype.signals):
            s_path = (*path, "types", t_index, "signals", s_index)
            if signal.use_quantity and score.quantity_column is None:
                sink.error(
                    (*s_path, "use_quantity"),
                    IssueCode.MISSING_COLUMN,
                    "use_quantity needs the score's quantity_column",
                    "set 'quantity_column:' on the score (e.g. quantity)",
                )
            if signal.signal in signal_owner:
                sink.error(
                    (*s_path, "signal"),
                    IssueCode.DUPLICATE_SIGNAL,
                    f"signal {signal.signal!r} is already weighted by {signal_owner[signal.signal]!r}",
                    "count each signal type once, or the score double-counts it",
                )
            signal_owner[signal.signal] = signal.id
    check_bands(path, "bands", score.bands, sink, scale=(0.0, 100.0), exclusive=True)
    if not score.bands:
        sink.warning(
            path,
            IssueCode.NO_BANDS,
            "this score has no bands",
            "add bands such as Champion / Engaged / At risk / "
            "Dormant so contacts can be triaged and band crossings alerted",
            at_key=True,
        )


def check_bands(
    path: YamlPath,
    key: str,
    bands: list[BandSpec],
    sink: IssueSink,
    *,
    scale: tuple[float, float] | None = None,
    exclusive: bool = False,
) -> None:
    names: set[str] = set()
    for index, band in enumerate(bands):
        b_path = (*path, key, index)
        if band.low is not None and band.high is not None and band.low > band.high:
            sink.error(
                (*b_path, "low"),
                IssueCode.BAND_RANGE,
                f"band {band.name!r}: low {band.low:g} is above high {band.high:g}",
                "swap low and high",
                at_key=True,
            )
        if scale is not None:
            for edge in ("low", "high"):
                value = getattr(band, edge)
                if value is not None and not scale[0] <= value <= scale[1]:
                    sink.error(
                        (*b_path, edge),
                        IssueCode.BAND_RANGE,
                        f"band {band.name!r}: {edge} {value:g} is outside 0-100",
                        "scores are normalised to 0-100",
                    )
        if band.name in names:
            sink.error(
                (*b_path, "name"), IssueCode.DUPLICATE_BAND, f"band {band.name!r} is declared twice", "rename one"
            )
        names.add(band.name)
    if exclusive:
        ordered = sorted(((b.low if b.low is not None else float("-inf"), i) for i, b in enumerate(bands)))
        for (_, lower_index), (next_low, index) in itertools.pairwise(ordered):
            lower, upper = bands[lower_index], bands[index]
            top = lower.high if lower.high is not None else float("inf")
            if next_low <= top:
                sink.error(
                    (*path, key, index, "low"),
                    IssueCode.BAND_OVERLAP,
                    f"bands {lower.name!r} and {upper.name!r} overlap",
                    "each score must fall in one band: make each low higher than the band below's high",
                    at_key=True,
                )


def check_band_segments(path: YamlPath, bands: list[BandSpec], columns: frozenset[str], sink: IssueSink) -> None:
    for index, band in enumerate(bands):
        for column in band.where or {}:
            if column not in columns:
                sink.error(
                    (*path, "benchmarks", index, "where", column),
                    IssueCode.UNKNOWN_COLUMN,
                    f"band {band.name!r} applies to {column!r}, which no source of this tree has",
                    column_hint(column, columns),
                    at_key=True,
                )


def check_target(path: YamlPath, target: TargetSpec, sink: IssueSink) -> None:
    t_path = (*path, "target")
    has_band = target.low is not None or target.high is not None
    if target.value is None and not has_band:
        sink.error(
            t_path,
            IssueCode.TARGET_EMPTY,
            "a target needs 'value' or 'low'/'high'",
            "e.g. target: {value: 5}",
            at_key=True,
        )
    elif target.value is not None and has_band:
        sink.error(
            t_path,
            IssueCode.TARGET_MIXED,
            "a target is a value or a band, not both",
            "keep value for a point target, or low/high for a band",
            at_key=True,
        )
    if target.low is not None and target.high is not None and target.low > target.high:
        sink.error(
            (*t_path, "low"),
            IssueCode.BAND_RANGE,
            f"target low {target.low:g} is above high {target.high:g}",
            "swap low and high",
            at_key=True,
        )
