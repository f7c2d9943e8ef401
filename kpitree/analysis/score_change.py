"""A change in an engagement score, split by engagement type and into new activity and ageing.

A score is taken as of an instant from the signals before it, each decayed by its age. Between a
comparison period's end and the current period's end two things change a score: new signals
arrive, and the old ones age (they decay, and the oldest leave the lookback window). Three scores
separate them exactly:

* ``before``: as of the comparison period's end (every signal up to then);
* ``aged``: as of the current period's end, from the signals up to the comparison period's end only;
* ``after``: as of the current period's end (every signal up to then).

``ageing = aged - before`` is what time alone did; ``new activity = after - aged`` is what the
signals that arrived in between did. The same split holds for each engagement type, because a
score's composition by type sums to the score, so the types' parts add up to the two totals and the
totals to the change. An entity (or population) with nothing to score counts as 0 in the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kpitree.compute.batch import PeriodWindow, SegmentFilter
from kpitree.compute.contact_scores import aged_point, point_of
from kpitree.compute.score_states import POPULATION, ScoreState, ScoreSubject, score_states
from kpitree.errors import UsageError
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import Warehouse

# Below this many points a part of the change is treated as nothing: float noise from summing
# decayed weights, never a movement anybody would act on.
NEGLIGIBLE_POINTS = 1e-9


@dataclass(frozen=True)
class TypeChange:
    """One engagement type's part of the change."""

    type_id: str
    before: float
    aged: float
    after: float

    @property
    def ageing(self) -> float:
        return self.aged - self.before

    @property
    def new_activity(self) -> float:
        return self.after - self.aged

    @property
    def delta(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class ScoreChange:
    subject: str  # what was scored: "population", "contact c1", "account a1"
    before: ScoreState
    aged: ScoreState
    after: ScoreState
    types: tuple[TypeChange, ...]  # in the tree's order

    @property
    def ageing(self) -> float:
        return self.aged.points - self.before.points

    @property
    def new_activity(self) -> float:
        return self.after.points - self.aged.points

    @property
    def delta(self) -> float:
        return self.after.points - self.before.points

    @property
    def only_ageing(self) -> bool:
        """The score moved, and only because time passed: no new signal changed it."""
        return abs(self.new_activity) <= NEGLIGIBLE_POINTS and abs(self.ageing) > NEGLIGIBLE_POINTS


def split_score_change(
    subject: str, before: ScoreState, aged: ScoreState, after: ScoreState, type_ids: Sequence[str]
) -> ScoreChange:
    types = tuple(TypeChange(t, before.part(t), aged.part(t), after.part(t)) for t in type_ids)
    return ScoreChange(subject, before, aged, after, types)


def score_change(
    tree: MetricTree,
    node: Node,
    current: PeriodWindow,
    compare: PeriodWindow,
    warehouse: Warehouse,
    segment: SegmentFilter | None = None,
    subject: ScoreSubject = POPULATION,
    known: tuple[ScoreState, ScoreState] | None = None,
    aged: ScoreState | None = None,
) -> ScoreChange:
    """The subject's score change from ``compare``'s end to ``current``'s, split. One statement
    takes the three scores; given the two period scores (``known``: before, after, as a compute
    already took them), it takes only the aged one, and none given that too (``aged``)."""
    if compare.end > current.end:
        raise UsageError("the new-activity / ageing split needs a comparison period before the current one")
    if known is not None and aged is not None:
        before, after = known
    elif known is not None:
        (aged,) = score_states(tree, node, [aged_point(0, current, compare)], warehouse, segment, subject)
        before, after = known
    else:
        points = (point_of(0, compare), aged_point(1, current, compare), point_of(2, current))
        before, aged, after = score_states(tree, node, points, warehouse, segment, subject)
    return split_score_change(subject.label, before, aged, after, node.children)
