"""Checks of each node on its own: its kind, formula, common fields and alerts; measures and splits
in :mod:`kpitree.spec.check_measures`, scores, bands and targets in :mod:`kpitree.spec.check_bands`."""

from __future__ import annotations

from collections.abc import Collection

from kpitree.errors import InternalError
from kpitree.formula import BinOp, FormulaSyntaxError, FormulaTooComplex, parse_formula, references
from kpitree.spec.check_bands import check_band_segments, check_bands, check_score, check_target
from kpitree.spec.check_measures import check_measure, check_split
from kpitree.spec.columns import available_columns
from kpitree.spec.declarations import NodeDecl
from kpitree.spec.edge import Draft
from kpitree.spec.issues import IssueCode
from kpitree.spec.models import NodeFields, NodeSpec
from kpitree.spec.models.alerts import BandRule, EntityBandRule, ThresholdRule
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
            if spec.segment_by is not None:
                _check_segment_by(decl.path, spec, segment_columns, sink)
            elif spec.segment_owners is not None:
                sink.error(
                    (*decl.path, "segment_owners"),
                    IssueCode.SEGMENT_BY,
                    f"node {spec.id!r} has segment_owners but no segment_by",
                    "segment_owners name owners of segment_by's values: add 'segment_by: COLUMN'",
                    at_key=True,
                )
            if spec.measure is not None:
                check_measure(draft, decl.path, spec.measure, sink)
                if spec.split is not None:
                    check_split(draft, (*decl.path, "split"), spec.split, spec.measure, sink)
            if spec.score is not None:
                check_score(draft, (*decl.path, "score"), spec.score, sink)
        _check_common(decl, spec, known_ids, sink)
        check_band_segments(decl.path, spec.benchmarks, segment_columns, sink)


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
    if spec.formula is None:
        raise InternalError("spec.formula is missing")
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


def _check_segment_by(path: YamlPath, spec: NodeSpec, columns: Collection[str], sink: IssueSink) -> None:
    """``segment_by`` belongs on a ratio formula and names a column some source offers; whether its
    numerator and denominator are sums of measures whose sources all have it is known once the tree
    is built, and said in the report (a segment view that cannot be cut carries its reason)."""
    column = spec.segment_by
    where = (*path, "segment_by")
    if column is not None and column not in columns:
        sink.error(
            where,
            IssueCode.UNKNOWN_COLUMN,
            f"segment_by column {column!r} of {spec.id!r} is not a column of any source",
            did_you_mean(column, columns, "name a column of the ratio's measures' source or of a source it joins"),
        )
    ratio_hint = (
        "segment_by cuts a ratio's numerator and denominator alike: write the node as 'numerator / denominator'"
    )
    if spec.formula is None:
        sink.error(
            where, IssueCode.SEGMENT_BY, f"node {spec.id!r} has segment_by but no formula", ratio_hint, at_key=True
        )
        return
    try:
        expr = parse_formula(spec.formula)
    except FormulaSyntaxError:  # reported at the formula
        return
    if not (isinstance(expr, BinOp) and expr.op == "/"):
        sink.error(
            where, IssueCode.SEGMENT_BY, f"node {spec.id!r} has segment_by but is not a ratio", ratio_hint, at_key=True
        )


def _check_common(decl: NodeDecl, spec: NodeFields, known_ids: Collection[str], sink: IssueSink) -> None:
    path = decl.path
    check_bands(path, "benchmarks", spec.benchmarks, sink)
    if spec.target is not None:
        check_target(path, spec.target, sink)
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
