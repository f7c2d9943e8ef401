"""Checks of each node on its own: how it is computed, its split, score, bands, target and alerts."""

from __future__ import annotations

import itertools
from collections.abc import Collection

from kpitree.formula import FormulaSyntaxError, FormulaTooComplex, parse_formula, references
from kpitree.spec.check_tree import check_named_columns, column_hint
from kpitree.spec.columns import available_columns, is_untimed, time_column
from kpitree.spec.declarations import NodeDecl
from kpitree.spec.edge import Draft
from kpitree.spec.issues import IssueCode
from kpitree.spec.models import BandSpec, MeasureSpec, NodeFields, NodeSpec, ScoreSpec, SplitSpec, TargetSpec
from kpitree.spec.models.alerts import BandRule, EntityBandRule, ThresholdRule
from kpitree.spec.models.sources import SourceSpec, where_columns
from kpitree.spec.sink import IssueSink
from kpitree.spec.suggest import did_you_mean
from kpitree.spec.yaml_source import YamlPath

_KIND_KEYS = ("measure", "formula", "score")


def check_nodes(draft: Draft, decls: list[NodeDecl], known_ids: Collection[str], sink: IssueSink) -> None:
    # A band's segment ('where: {segment: SMB}') can name a column of any source of the tree.
    segment_columns = frozenset().union(*(available_columns(draft.spec, name) or () for name in draft.spec.sources))
    for decl in decls:
        spec = decl.spec
        if isinstance(spec, NodeSpec):
            _check_kind(decl, spec, sink)
            if spec.formula is not None:
                _check_formula(decl.path, spec, known_ids, sink)
            if spec.measure is not None:
                _check_measure(draft, decl.path, spec.measure, sink)
                if spec.split is not None:
                    _check_split(draft, (*decl.path, "split"), spec.split, spec.measure, sink)
            if spec.score is not None:
                _check_score(draft, (*decl.path, "score"), spec.score, sink)
        _check_common(decl, spec, known_ids, sink)
        _check_band_segments(decl.path, spec.benchmarks, segment_columns, sink)


def _check_kind(decl: NodeDecl, spec: NodeSpec, sink: IssueSink) -> None:
    present = [key for key in _KIND_KEYS if getattr(spec, key) is not None]
    if len(present) > 1:
        sink.error(
            (*decl.path, present[1]),
            IssueCode.NODE_KIND_CONFLICT,
            f"node {spec.id!r} has both {present[0]!r} and {present[1]!r}",
            "a node is computed one way: keep one of measure, formula or score, and move the other "
            "into a node of its own",
            at_key=True,
        )
    elif not present and not sink.pruned_within(decl.path):
        sink.error(
            (*decl.path, "id"),
            IssueCode.NODE_KIND_MISSING,
            f"node {spec.id!r} has no measure, formula or score",
            "add 'measure:' (an aggregate over a source), 'formula:' (over other nodes) or 'score:'",
        )
    if spec.split is not None and spec.measure is None:
        sink.error(
            (*decl.path, "split"),
            IssueCode.SPLIT_NEEDS_MEASURE,
            f"node {spec.id!r} splits but is not a measure",
            "a split restricts a measure's rows by a column; put the split on a measure node",
            at_key=True,
        )
    if spec.children is not None and spec.formula is None:
        sink.error(
            (*decl.path, "children"),
            IssueCode.CHILDREN_NEED_FORMULA,
            f"node {spec.id!r} lists children but has no formula",
            "children of a measure come from its split; children of a formula are the ids it uses",
            at_key=True,
        )


def _check_formula(path: YamlPath, spec: NodeSpec, known_ids: Collection[str], sink: IssueSink) -> None:
    assert spec.formula is not None
    formula_path = (*path, "formula")
    try:
        expr = parse_formula(spec.formula)
    except FormulaSyntaxError as exc:
        code = IssueCode.FORMULA_TOO_COMPLEX if isinstance(exc, FormulaTooComplex) else IssueCode.FORMULA_SYNTAX
        sink.error(formula_path, code, f"formula of {spec.id!r}: {exc}", exc.hint, offset=exc.offset)
        return
    refs = references(expr)
    for ref in refs:
        if ref.name not in known_ids:
            sink.error(
                formula_path,
                IssueCode.UNKNOWN_NODE,
                f"formula of {spec.id!r} uses unknown node {ref.name!r}",
                did_you_mean(ref.name, known_ids, "declare that node, or fix the id"),
                offset=ref.offset,
            )
    if spec.children is None:
        return
    used = {ref.name for ref in refs}
    for ref in refs:
        if ref.name in known_ids and ref.name not in spec.children:
            sink.error(
                formula_path,
                IssueCode.FORMULA_CHILDREN_MISMATCH,
                f"formula of {spec.id!r} uses {ref.name!r}, which is not one of its children",
                f"add {ref.name!r} to 'children:', or drop 'children:' to take them from the formula",
                offset=ref.offset,
            )
    for index, child in enumerate(spec.children):
        if child not in known_ids:
            sink.error(
                (*path, "children", index),
                IssueCode.UNKNOWN_NODE,
                f"child {child!r} of {spec.id!r} is not a node",
                did_you_mean(child, known_ids, "declare that node, or fix the id"),
            )
        elif child not in used:
            sink.error(
                (*path, "children", index),
                IssueCode.FORMULA_CHILDREN_MISMATCH,
                f"child {child!r} of {spec.id!r} is not used by its formula",
                "a formula's children are exactly the nodes it combines: use it in the formula or remove it",
            )


def _check_measure(draft: Draft, path: YamlPath, measure: MeasureSpec, sink: IssueSink) -> None:
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
    _check_instant(m_path, measure, source, columns, sink)
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


def _check_instant(
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


def _check_split(draft: Draft, path: YamlPath, split: SplitSpec, measure: MeasureSpec, sink: IssueSink) -> None:
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
            _check_split(draft, (*b_path, "split"), branch.split, measure, sink)


def _check_score(draft: Draft, path: YamlPath, score: ScoreSpec, sink: IssueSink) -> None:
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
    _check_bands(path, "bands", score.bands, sink, scale=(0.0, 100.0), exclusive=True)
    if not score.bands:
        sink.warning(
            path,
            IssueCode.NO_BANDS,
            "this score has no bands",
            "add bands such as Champion / Engaged / At risk / "
            "Dormant so contacts can be triaged and band crossings alerted",
            at_key=True,
        )


def _check_bands(
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


def _check_band_segments(path: YamlPath, bands: list[BandSpec], columns: frozenset[str], sink: IssueSink) -> None:
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


def _check_target(path: YamlPath, target: TargetSpec, sink: IssueSink) -> None:
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


def _check_common(decl: NodeDecl, spec: NodeFields, known_ids: Collection[str], sink: IssueSink) -> None:
    path = decl.path
    _check_bands(path, "benchmarks", spec.benchmarks, sink)
    if spec.target is not None:
        _check_target(path, spec.target, sink)
    if spec.per is not None and spec.per not in known_ids:
        sink.error(
            (*path, "per"),
            IssueCode.UNKNOWN_NODE,
            f"'per' names unknown node {spec.per!r}",
            did_you_mean(spec.per, known_ids, "name the node to divide by"),
        )
    score = spec.score if isinstance(spec, NodeSpec) else None
    seen: set[str] = set()
    for index, rule in enumerate(spec.alerts):
        r_path = (*path, "alerts", index)
        if rule.id in seen:
            sink.error(
                (*r_path, "id"),
                IssueCode.DUPLICATE_ID,
                f"alert id {rule.id!r} is used twice on {spec.id!r}",
                "alert ids identify an alert's history: make them unique per node",
            )
        seen.add(rule.id)
        if isinstance(rule, ThresholdRule) and rule.above is None and rule.below is None:
            sink.error(
                (*r_path, "rule"), IssueCode.ALERT_RULE, "a threshold rule needs 'above' or 'below'", "e.g. below: 4"
            )
        if isinstance(rule, BandRule):
            if rule.against == "target" and (spec.target is None or spec.target.value is not None):
                sink.error(
                    (*r_path, "against"),
                    IssueCode.ALERT_RULE,
                    f"node {spec.id!r} has no target band to check against",
                    "give the node 'target: {low: ..., high: ...}', or use against: benchmark",
                )
            if rule.against == "benchmark" and not spec.benchmarks:
                sink.error(
                    (*r_path, "against"),
                    IssueCode.ALERT_RULE,
                    f"node {spec.id!r} has no benchmarks",
                    "add 'benchmarks:' to the node, or use against: target",
                )
        if isinstance(rule, EntityBandRule):
            if score is None:
                sink.error(
                    (*r_path, "rule"),
                    IssueCode.ALERT_RULE,
                    "entity_band_crossing applies to score nodes only",
                    "move this rule to the node that has 'score:'",
                )
            else:
                names = {band.name for band in score.bands}
                for b_index, name in enumerate(rule.to_bands or []):
                    if name not in names:
                        sink.error(
                            (*r_path, "to_bands", b_index),
                            IssueCode.UNKNOWN_BAND,
                            f"the score has no band {name!r}",
                            did_you_mean(name, names, "use one of the score's band names"),
                        )
