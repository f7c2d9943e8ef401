"""Registering interventions before they are judged, and recording every later change.

An intervention is pre-registered: its node, expected direction and size, treated and control
segments, and evaluation window are fixed when it is added, so the verdict answers the question
asked before the data came in. Changing one of them later is allowed (plans change) but never
silent: each change is a row in ``intervention_edit``, and the evaluation lists them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from kpitree.compute.batch import SegmentFilter, segment_label
from kpitree.durations import WEEKS_OR_MONTHS, Duration, Unit, parse_duration
from kpitree.errors import InternalError, UsageError
from kpitree.periods import Grain, Period
from kpitree.state.models import Intervention, InterventionEdit, InterventionEvaluation
from kpitree.tree import MetricTree, tree_calendar

EDITABLE = ("window", "size", "owner", "note")


@dataclass(frozen=True)
class Window:
    """How long after the start the intervention is judged, in whole periods of ``grain``.
    The pre-period (the baseline, and the placebo's data) is as long, just before the start."""

    grain: Grain
    periods: int

    @classmethod
    def parse(cls, text: str) -> Window:
        """``8w`` or ``3mo`` (:mod:`kpitree.durations`): whole weeks or months."""
        return cls.of(parse_duration(text, WEEKS_OR_MONTHS))

    @classmethod
    def of(cls, duration: Duration) -> Window:
        if duration.unit not in WEEKS_OR_MONTHS:
            raise UsageError(f"a window of {duration} is not whole weeks or months", hint="e.g. 8w or 3mo")
        return cls(Grain.WEEK if duration.unit is Unit.WEEK else Grain.MONTH, duration.count)

    def __str__(self) -> str:
        return str(Duration(self.periods, Unit.WEEK if self.grain is Grain.WEEK else Unit.MONTH))


def parse_size(text: str) -> float:
    """``20%`` or ``0.2`` -> 0.2: the expected effect relative to the counterfactual level."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageError(f"--size {text!r} is not a relative size", hint="e.g. --size 20% or --size 0.2") from None
    if value <= 0:
        raise UsageError(f"--size {text!r}: give the size as a positive amount; --expect gives the direction")
    return value


@dataclass(frozen=True)
class RegisteredIntervention:
    """An intervention as stored, with the periods its window covers."""

    id: int
    tree_id: str
    node_id: str
    expect: str
    expected_size: float | None
    start: date
    window: Window
    segment: str
    control: str
    owner: str
    note: str
    registered_at: datetime
    edits: tuple[InterventionEdit, ...]

    @property
    def segment_label(self) -> str:
        """The treated segment for people ('' for the whole population)."""
        return segment_label(self.segment)

    @property
    def control_label(self) -> str:
        return segment_label(self.control)

    def periods(self, tree: MetricTree) -> tuple[tuple[Period, ...], tuple[Period, ...]]:
        """(the pre-period's periods, the window's periods), oldest first."""
        calendar = tree_calendar(tree)
        first = calendar.period_containing(self.start, self.window.grain)
        n = self.window.periods
        return (
            tuple(calendar.shift(first, k) for k in range(-n, 0)),
            tuple(calendar.shift(first, k) for k in range(n)),
        )

    def window_end(self, tree: MetricTree) -> date:
        """The day after the window's last day: from then on it can be evaluated."""
        return self.periods(tree)[1][-1].end

    @property
    def edits_after_registration(self) -> tuple[str, ...]:
        return tuple(
            f"{edit.field_name} changed from {edit.old_value or '(none)'} to {edit.new_value or '(none)'} "
            f"on {edit.edited_at:%Y-%m-%d}" + (f" ({edit.reason})" if edit.reason else "")
            for edit in self.edits
        )


def first_whole_period(tree: MetricTree, start: date, grain: Grain) -> date:
    """The start of the first period that lies wholly after ``start``: a period the change only
    reached halfway would blur the comparison, so it belongs to neither side."""
    calendar = tree_calendar(tree)
    period = calendar.period_containing(start, grain)
    return period.start if period.start == start else calendar.shift(period, 1).start


def register(
    engine: Engine,
    tree: MetricTree,
    *,
    node_id: str,
    start: date,
    expect: str,
    window: Window,
    owner: str,
    note: str = "",
    size: float | None = None,
    segment: SegmentFilter | None = None,
    control: SegmentFilter | None = None,
    now: datetime,
) -> RegisteredIntervention:
    """Check and store a new intervention; its start snaps to the first whole period."""
    segment, control = segment or SegmentFilter(), control or SegmentFilter()
    _check(tree, node_id, expect, owner, segment, control)
    row = Intervention(
        tree_id=tree.id,
        node_id=node_id,
        expect=expect,
        expected_size=size,
        start=first_whole_period(tree, start, window.grain),
        grain=window.grain.value,
        window_periods=window.periods,
        segment=segment.key(),
        control=control.key(),
        owner=owner,
        note=note,
        registered_at=now,
    )
    with Session(engine) as session:
        session.add(row)
        session.commit()
        session.refresh(row)
        return _registered(row, ())


def _check(
    tree: MetricTree, node_id: str, expect: str, owner: str, segment: SegmentFilter, control: SegmentFilter
) -> None:
    if node_id not in tree.nodes:
        raise UsageError(f"tree {tree.id!r} has no node {node_id!r}", hint=f"nodes: {', '.join(sorted(tree.nodes))}")
    if expect not in ("up", "down"):
        raise UsageError(f"--expect {expect!r}: up or down")
    _check_owner(tree, owner)
    if control and not segment:
        raise UsageError(
            "--control needs --segment: the control is compared with the segment the change was made in",
            hint="e.g. --segment segment=Mid-market --control segment=Enterprise",
        )
    if control and set(control.values) != set(segment.values):
        raise UsageError(
            f"--control {control.label()} and --segment {segment.label()} split on different columns",
            hint="a control is another part of the same split: another team, rep group or segment",
        )
    if control and control.key() == segment.key():
        raise UsageError("--control is the same segment as --segment")


def _check_owner(tree: MetricTree, owner: str) -> None:
    if owner not in tree.people and owner not in tree.teams:
        known = ", ".join(sorted([*tree.people, *tree.teams]))
        raise UsageError(f"--owner {owner!r} is not a person or team of tree {tree.id!r}", hint=f"known: {known}")


def edit(
    engine: Engine, intervention_id: int, changes: Mapping[str, str], reason: str, tree: MetricTree, now: datetime
) -> list[InterventionEdit]:
    """Apply ``changes`` (window, size, owner, note) and record each one beside the intervention."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise UsageError(f"cannot edit {', '.join(sorted(unknown))}", hint=f"editable: {', '.join(EDITABLE)}")
    recorded: list[InterventionEdit] = []
    with Session(engine) as session:
        row = _row(session, intervention_id)
        for name, text in changes.items():
            if name == "window":
                window = Window.parse(text)
                old = str(Window(Grain(row.grain), row.window_periods))
                row.grain, row.window_periods, new = window.grain.value, window.periods, str(window)
            elif name == "size":
                old = f"{row.expected_size:.0%}" if row.expected_size is not None else ""
                row.expected_size = parse_size(text)
                new = f"{row.expected_size:.0%}"
            elif name == "owner":
                _check_owner(tree, text)
                old, row.owner, new = row.owner, text, text
            else:
                old, row.note, new = row.note, text, text
            if old == new:
                continue
            change = InterventionEdit(
                intervention_id=intervention_id,
                edited_at=now,
                field_name=name,
                old_value=old,
                new_value=new,
                reason=reason,
            )
            session.add(change)
            recorded.append(change)
        session.add(row)
        session.commit()
        for change in recorded:
            session.refresh(change)
    return recorded


def load_intervention(engine: Engine, intervention_id: int) -> RegisteredIntervention:
    with Session(engine) as session:
        row = _row(session, intervention_id)
        return _registered(row, _edits(session, [intervention_id]).get(intervention_id, ()))


def list_interventions(engine: Engine, tree_id: str | None = None) -> list[RegisteredIntervention]:
    with Session(engine) as session:
        query = select(Intervention).order_by(col(Intervention.id))
        if tree_id:
            query = query.where(col(Intervention.tree_id) == tree_id)
        rows = list(session.exec(query))
        edits = _edits(session, [row.id for row in rows if row.id is not None])
        return [_registered(row, edits.get(row.id or 0, ())) for row in rows]


def latest_evaluations(engine: Engine, ids: Sequence[int]) -> dict[int, InterventionEvaluation]:
    """The newest evaluation of each intervention that has one."""
    if not ids:
        return {}
    with Session(engine) as session:
        rows = session.exec(
            select(InterventionEvaluation)
            .where(col(InterventionEvaluation.intervention_id).in_(ids))
            .order_by(col(InterventionEvaluation.id))
        )
        return {row.intervention_id: row for row in rows}


def _row(session: Session, intervention_id: int) -> Intervention:
    row = session.get(Intervention, intervention_id)
    if row is None:
        raise UsageError(f"no intervention {intervention_id}", hint="see: kpitree impact list")
    return row


def _edits(session: Session, ids: Sequence[int]) -> dict[int, tuple[InterventionEdit, ...]]:
    found: dict[int, list[InterventionEdit]] = {}
    if ids:
        query = select(InterventionEdit).where(col(InterventionEdit.intervention_id).in_(ids))
        for row in session.exec(query.order_by(col(InterventionEdit.id))):
            found.setdefault(row.intervention_id, []).append(row)
    return {key: tuple(value) for key, value in found.items()}


def _registered(row: Intervention, edits: tuple[InterventionEdit, ...]) -> RegisteredIntervention:
    if row.id is None:
        raise InternalError("row.id is missing")
    return RegisteredIntervention(
        id=row.id,
        tree_id=row.tree_id,
        node_id=row.node_id,
        expect=row.expect,
        expected_size=row.expected_size,
        start=row.start,
        window=Window(Grain(row.grain), row.window_periods),
        segment=row.segment,
        control=row.control,
        owner=row.owner,
        note=row.note,
        registered_at=row.registered_at,
        edits=edits,
    )
