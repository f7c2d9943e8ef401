"""The tree file as a whole."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from kpitree.spec.models.base import Identifier, OwnerRef, SpecModel
from kpitree.spec.models.directory import PersonSpec, TeamSpec
from kpitree.spec.models.nodes import NodeSpec
from kpitree.spec.models.sources import SourceSpec

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class CalendarSpec(SpecModel):
    week_start: Weekday = Field(default="monday", description="monday gives ISO weeks")
    fiscal_year_start_month: int = Field(default=1, ge=1, le=12)


class ScheduleSpec(SpecModel):
    cron: str = Field(description="five-field crontab in the tree's timezone, e.g. '0 7 * * 1'")
    timezone: str | None = Field(default=None, description="defaults to the tree's timezone")


class MaintenanceWindow(SpecModel):
    """A planned quiet time (a data migration, a CRM cutover): notifications are held back."""

    start: AwareDatetime = Field(description="ISO 8601 with an offset, e.g. 2026-12-01T00:00:00+00:00")
    end: AwareDatetime
    reason: str = ""

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> MaintenanceWindow:
        if self.end <= self.start:
            raise ValueError("a maintenance window must end after it starts")
        return self


class AlertingSpec(SpecModel):
    fallback_receiver: OwnerRef | None = Field(
        default=None, description="person or team who gets alerts whose owner has no address"
    )
    templates: str | None = Field(
        default=None, description="directory (relative to the tree file) of templates overriding the defaults"
    )
    digest: Literal["run", "daily"] = Field(
        default="run", description="when Informed owners get their digest: after each run, or once a day"
    )
    maintenance: list[MaintenanceWindow] = Field(
        default_factory=list, description="windows in which alerts are evaluated and recorded but not sent"
    )


class TreeFileSpec(SpecModel):
    """One YAML file = one metric tree."""

    tree: Identifier = Field(description="the tree's id")
    title: str
    description: str = ""
    root: Identifier | None = Field(default=None, description="the KPI node; the first node when omitted")
    grain: Literal["week", "month", "quarter"] = "month"
    timezone: str = "UTC"
    calendar: CalendarSpec = Field(default_factory=CalendarSpec)
    schedule: ScheduleSpec | None = None
    alerting: AlertingSpec = Field(default_factory=AlertingSpec)
    people: list[PersonSpec] = Field(default_factory=list)
    teams: list[TeamSpec] = Field(default_factory=list)
    sources: dict[Identifier, SourceSpec] = Field(default_factory=dict)
    drill: list[str] = Field(
        default_factory=list,
        max_length=12,
        description="columns 'kpitree drill' and the variance report cut a node's movement by, "
        "when --by is not given (any column of a node's source or its joins)",
    )
    nodes: list[NodeSpec] = Field(min_length=1)
