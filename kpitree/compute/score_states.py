"""Engagement scores at chosen instants, with their composition by engagement type, for the
population, one contact or one roll-up entity (an account).

The score change split (:mod:`kpitree.analysis.score_change`) needs a score the ordinary compute
never takes: the *aged* one, as of the current period's end from the older signals only. The SQL is
the compute's own (:mod:`kpitree.compute.scores`) with a :class:`~kpitree.compute.scores.ScorePoint`
per instant, so the three scores of a change are one statement and agree with ``kpitree compute``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean

from sqlalchemy import RowMapping

from kpitree.compute.batch import SegmentFilter
from kpitree.compute.contact_scores import ScorePoint, signal_label
from kpitree.compute.relations import computing
from kpitree.compute.scores import plan_score_query, run_score_query, score_rows
from kpitree.errors import InternalError, UsageError
from kpitree.spec.models.base import Scalar
from kpitree.tree import MetricTree, Node
from kpitree.warehouse import Warehouse


@dataclass(frozen=True)
class ScoreState:
    """A score at one instant and its composition by engagement type, which sums to it."""

    score: float | None  # None: no weighted signal in the lookback window
    by_type: Mapping[str, float]

    @property
    def points(self) -> float:
        return self.score if self.score is not None else 0.0

    def part(self, type_id: str) -> float:
        return self.by_type.get(type_id, 0.0) if self.score is not None else 0.0


UNSCORED = ScoreState(None, {})


@dataclass(frozen=True)
class ScoreSubject:
    """Whose score: the whole population (of the segment), one contact, or one roll-up entity."""

    label: str
    column: str | None = None  # the column that picks the subject's signals
    value: Scalar | None = None
    roll_up: str | None = None  # the roll-up method, when the subject is a roll-up entity

    @classmethod
    def of(cls, node: Node, contact: str | None = None, account: str | None = None) -> ScoreSubject:
        """``--contact`` is the score's entity; ``--account`` its first roll-up (account_id in the
        shipped tree). Neither: the population."""
        spec = node.score
        if spec is None:
            raise InternalError("spec is missing")
        if contact is not None and account is not None:
            raise UsageError("give --contact or --account, not both")
        if contact is not None:
            return cls(f"{spec.entity} {contact}", spec.entity, contact)
        if account is not None:
            if not spec.roll_up:
                raise UsageError(
                    f"score {node.id!r} rolls up to no entity, so it has no account scores",
                    hint="add 'roll_up: [{entity: account_id}]' to the score, or use --contact",
                )
            roll_up = spec.roll_up[0]
            return cls(f"{roll_up.entity} {account}", roll_up.entity, account, roll_up.method)
        return POPULATION


POPULATION = ScoreSubject("population")


def score_states(
    tree: MetricTree,
    node: Node,
    points: Sequence[ScorePoint],
    warehouse: Warehouse,
    segment: SegmentFilter | None = None,
    subject: ScoreSubject = POPULATION,
) -> list[ScoreState]:
    """The subject's score and its composition by type at each point, in the order given."""
    segment = segment or SegmentFilter()
    if subject.column is None:
        query = plan_score_query(tree, node, points, segment, warehouse)
        results = run_score_query(tree, query, points, warehouse)
        return [state_of(node, {n: v.value for n, v in values.items()}) for values, _summary in results]
    if subject.value is None:
        raise InternalError("subject.value is missing")
    statement = score_rows(tree, node, points, segment, warehouse, only={subject.column: subject.value})
    contacts: dict[int, list[ScoreState]] = defaultdict(list)
    source = node.score.source if node.score else ""
    with warehouse.reading(computing(tree, source, [node.id]), source=source, node=node.id) as connection:
        # Ordered by contact id, so a roll-up's ties go as in the crossings' SQL (kpitree.compute.crossings).
        for row in sorted(connection.execute(statement).mappings(), key=lambda r: str(r["entity"])):
            contacts[row["idx"]].append(state_from_row(tree, node, row))
    if subject.roll_up is None:
        return [contacts[p.index][0] if contacts[p.index] else UNSCORED for p in points]
    return [roll_up_state(contacts[p.index], subject.roll_up) for p in points]


def roll_up_state(contacts: Sequence[ScoreState], method: str) -> ScoreState:
    """An entity's (an account's) score from its contacts' scores, as the tree's roll-up takes it,
    with the composition that goes with it: the mean of the compositions for ``mean``, the top
    contact's for ``max`` (the first on a tie), the middle contact's (or the mean of the two middle
    ones) for ``median``; the caller orders the contacts (by id) for ties. So the rolled-up
    composition still sums to the rolled-up score."""
    scored = [c for c in contacts if c.score is not None]
    if not scored:
        return UNSCORED
    if method == "mean":
        chosen = scored
    elif method == "max":
        chosen = [max(scored, key=lambda c: c.points)]
    elif method == "median":
        ranked = sorted(scored, key=lambda c: c.points)
        middle = len(ranked) // 2
        chosen = ranked[middle - 1 : middle + 1] if len(ranked) % 2 == 0 else [ranked[middle]]
    else:
        raise ValueError(f"unknown roll-up method {method!r}")
    type_ids = dict.fromkeys(t for c in chosen for t in c.by_type)
    return ScoreState(fmean(c.points for c in chosen), {t: fmean(c.part(t) for c in chosen) for t in type_ids})


def state_of(node: Node, values: Mapping[str, float | None]) -> ScoreState:
    """A score node's state from node values: its own (the score) and its types'."""
    score = values.get(node.id)
    if score is None:
        return UNSCORED
    return ScoreState(score, {t: values.get(t) or 0.0 for t in node.children})


def state_from_row(tree: MetricTree, node: Node, row: RowMapping) -> ScoreState:
    """One contact's state from a :func:`~kpitree.compute.scores.score_rows` row."""
    by_type = {
        type_id: sum(float(row[signal_label(s)] or 0.0) for s in tree.nodes[type_id].children)
        for type_id in node.children
    }
    return ScoreState(float(row["score"]), by_type)
