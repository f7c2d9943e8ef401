"""Nodes: measures, formulas and scores, their split branches, owners, targets and bands."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict

from kpitree.spec.models.alerts import AlertRuleSpec
from kpitree.spec.models.base import Identifier, OwnerList, OwnerRef, Scalar, SpecModel
from kpitree.spec.models.sources import WhereClause

Direction = Literal["higher_is_better", "lower_is_better"]
Aggregation = Literal["count", "count_distinct", "sum", "avg", "min", "max", "median", "percentile"]
# Aggregates whose value over a set of rows is the sum of their values over its parts: only these
# split into branches that add up (the others' branches are shown beside them, not summed).
ADDITIVE_AGGREGATIONS = frozenset({"count", "sum"})
# Weights and band edges must be written as numbers: a quoted "5" is a mistake worth reporting.
Number = Annotated[float, Strict()]


class OwnersSpec(SpecModel):
    """RACI. A role left out is inherited from the parent node."""

    responsible: OwnerList | None = None
    accountable: OwnerList | None = Field(default=None, description="exactly one owner")
    consulted: OwnerList | None = None
    informed: OwnerList | None = None


class BandSpec(SpecModel):
    """A named range; an open end is left out (``low: 12`` means 12 or more)."""

    name: str
    low: Number | None = None
    high: Number | None = None
    where: dict[str, Scalar] | None = Field(
        default=None, description="segment this band applies to, e.g. {segment: SMB, motion: outbound}"
    )
    note: str = ""
    action: str = ""


class TargetSpec(SpecModel):
    """A point target (``value``) or a target band (``low`` / ``high``)."""

    value: Number | None = None
    low: Number | None = None
    high: Number | None = None


class CohortSpec(SpecModel):
    """Only the entities present at an instant of the period: ``{entity: customer_id, at: start}``."""

    entity: str = Field(description="the column naming an entity (a customer, an account)")
    at: Literal["start", "end"] = "start"


class MeasureSpec(SpecModel):
    source: Identifier
    agg: Aggregation
    column: str | None = Field(default=None, description="required for every aggregate but count")
    p: float | None = Field(
        default=None, gt=0, lt=1, description="percentile only: which one, e.g. 0.9 (linear interpolation)"
    )
    where: WhereClause = Field(default_factory=dict)
    at: Literal["start", "end"] | None = Field(
        default=None, description="point-in-time sources: the value at the instant the period opens or closes"
    )
    cohort: CohortSpec | None = Field(
        default=None, description="point-in-time sources: only the entities present at that instant"
    )


class NodeFields(SpecModel):
    """What every node has, whatever computes it."""

    id: Identifier
    title: str | None = None
    description: str = ""
    unit: str | None = None
    direction: Direction | None = Field(default=None, description="inherited from the parent when omitted")
    owners: OwnersSpec | None = None
    target: TargetSpec | None = None
    benchmarks: list[BandSpec] = Field(default_factory=list)
    alerts: list[AlertRuleSpec] = Field(default_factory=list)
    per: Identifier | None = Field(
        default=None, description="also show this node's value divided by another node (a shared denominator)"
    )
    display: Literal["number", "percent"] | None = Field(
        default=None, description="percent: a fraction shown x100 with %; inherited by split branches"
    )
    decimals: int | None = Field(default=None, ge=0, le=6, description="fixed decimals in every output")


class SplitSpec(SpecModel):
    by: str = Field(description="column of the measure's source to split on")
    branches: list[BranchSpec] = Field(min_length=1)


class BranchSpec(NodeFields):
    """One branch of a split: the parent's measure restricted to some values of the split column."""

    values: list[Scalar] | None = None
    other: bool = Field(default=False, description="every value no other branch names, NULL included")
    split: SplitSpec | None = None


class SignalSpec(NodeFields):
    """One signal type of an engagement score and its weight in points."""

    signal: str = Field(description="value of the source's signal column")
    weight: Number
    use_quantity: bool = Field(default=False, description="weight x quantity instead of weight per row")


class EngagementTypeSpec(NodeFields):
    """A branch of an engagement score: product usage, email and content, human interactions, intent."""

    signals: list[SignalSpec] = Field(min_length=1)


class DecaySpec(SpecModel):
    mode: Literal["step", "exponential"] = "step"
    half_life_days: Number = Field(default=14, gt=0)


class NormalisationSpec(SpecModel):
    """``clip``: points capped to 0..max_points, rescaled to 0-100 (max_points 100 keeps points as is).
    ``log``: 100 x ln(1 + points) / ln(1 + max_points), capped at 100: diminishing returns, so one
    hyperactive channel cannot dominate."""

    method: Literal["clip", "log"] = "clip"
    max_points: Number = Field(default=100, gt=0)


class RollUpSpec(SpecModel):
    entity: str = Field(description="column to roll contact scores up to, e.g. account_id")
    method: Literal["mean", "max", "median"] = "mean"


class ScoreSpec(SpecModel):
    source: Identifier
    entity: str = "contact_id"
    signal_column: str = "signal_type"
    quantity_column: str | None = None
    lookback_days: int = Field(default=365, gt=0)
    decay: DecaySpec = Field(default_factory=DecaySpec)
    normalisation: NormalisationSpec = Field(default_factory=NormalisationSpec)
    bands: list[BandSpec] = Field(default_factory=list)
    roll_up: list[RollUpSpec] = Field(default_factory=list)
    types: list[EngagementTypeSpec] = Field(min_length=1)


class NodeSpec(NodeFields):
    """A tree node. Exactly one of ``measure``, ``formula`` or ``score`` says how it is computed."""

    measure: MeasureSpec | None = None
    formula: str | None = Field(
        default=None, description="expression over child ids: + - * / ( ) numbers min max abs coalesce"
    )
    children: list[Identifier] | None = Field(
        default=None, description="the formula's tree children; taken from the formula when omitted"
    )
    split: SplitSpec | None = None
    score: ScoreSpec | None = None
    segment_by: str | None = Field(
        default=None,
        description="a ratio formula (a / b): also tell its movement per value of this column of its "
        "measures' sources, each value's rate and mix effect; the largest-gap path, headline and "
        "alerts then name the segment",
    )
    segment_owners: dict[str, OwnersSpec] | None = Field(
        default=None,
        description="with segment_by: owners of some of its values (the RVP of a region), inheriting "
        "the node's for the roles left out; an alert whose largest gap is that value goes to them",
    )


SplitSpec.model_rebuild()

__all__ = [
    "BandSpec",
    "BranchSpec",
    "EngagementTypeSpec",
    "MeasureSpec",
    "NodeFields",
    "NodeSpec",
    "OwnerRef",
    "OwnersSpec",
    "ScoreSpec",
    "SignalSpec",
    "SplitSpec",
    "TargetSpec",
]
