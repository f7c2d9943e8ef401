"""Pydantic models of the tree YAML: the only place raw user input is typed."""

from kpitree.spec.models.alerts import AlertRuleSpec
from kpitree.spec.models.directory import PersonSpec, TeamSpec
from kpitree.spec.models.nodes import (
    BandSpec,
    BranchSpec,
    EngagementTypeSpec,
    MeasureSpec,
    NodeFields,
    NodeSpec,
    OwnersSpec,
    ScoreSpec,
    SignalSpec,
    SplitSpec,
    TargetSpec,
)
from kpitree.spec.models.sources import FilterCondition, JoinSpec, SourceSpec
from kpitree.spec.models.tree import AlertingSpec, CalendarSpec, ScheduleSpec, TreeFileSpec

__all__ = [
    "AlertRuleSpec",
    "AlertingSpec",
    "BandSpec",
    "BranchSpec",
    "CalendarSpec",
    "EngagementTypeSpec",
    "FilterCondition",
    "JoinSpec",
    "MeasureSpec",
    "NodeFields",
    "NodeSpec",
    "OwnersSpec",
    "PersonSpec",
    "ScheduleSpec",
    "ScoreSpec",
    "SignalSpec",
    "SourceSpec",
    "SplitSpec",
    "TargetSpec",
    "TeamSpec",
    "TreeFileSpec",
]
