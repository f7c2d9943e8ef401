"""Alert rules as declared on a node. Evaluated by the alerting stage; validated here."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from kpitree.spec.models.base import Duration, Identifier, SpecModel


class AlertRuleBase(SpecModel):
    id: Identifier
    severity: Literal["info", "warning", "critical"] = "warning"
    channels: list[Literal["email", "slack"]] | None = Field(
        default=None, description="channels to use; all the recipient has when omitted"
    )
    notify_on_resolve: bool = True
    notify_on_change: bool = Field(
        default=True, description="notify again when a firing alert changes (severity, entities, band)"
    )
    repeat_interval: Duration = Field(default="7d", description="re-notify a still-firing alert after this")
    description: str = ""


class ThresholdRule(AlertRuleBase):
    """Fires while the value is above ``above`` or below ``below``."""

    rule: Literal["threshold"]
    above: float | None = None
    below: float | None = None


class BandRule(AlertRuleBase):
    """Fires while the value is outside the node's target band or its benchmark band."""

    rule: Literal["band"]
    against: Literal["target", "benchmark"] = "target"


class ChangeRule(AlertRuleBase):
    """Fires when the change against the comparison period passes BOTH the percent and the floor."""

    rule: Literal["change"]
    compare: Literal["previous", "yoy"] = "previous"
    pct: float = Field(gt=0, description="relative change in percent, e.g. 10 for 10%")
    min_abs: float = Field(ge=0, description="absolute change floor, in the node's unit")
    direction: Literal["up", "down", "both"] = "both"


class SlideRule(AlertRuleBase):
    """Fires after ``periods`` consecutive periods moving the bad way."""

    rule: Literal["slide"]
    periods: int = Field(default=3, ge=2)


class AnomalyRule(AlertRuleBase):
    """Fires when the value is ``z`` robust z-scores (median/MAD) away from the trailing periods."""

    rule: Literal["anomaly"]
    trailing: int = Field(default=12, ge=4)
    z: float = Field(default=3.5, gt=0)
    direction: Literal["up", "down", "both"] = "both"


class EntityBandRule(AlertRuleBase):
    """Score nodes only: a contact or account crossing into a lower (or higher) band."""

    rule: Literal["entity_band_crossing"]
    entity: Literal["contact", "account"] = "contact"
    direction: Literal["down", "up"] = "down"
    to_bands: list[str] | None = Field(default=None, description="only crossings into these bands")


AlertRuleSpec = Annotated[
    ThresholdRule | BandRule | ChangeRule | SlideRule | AnomalyRule | EntityBandRule,
    Field(discriminator="rule"),
]
