"""The people directory: who can own a branch and how to reach them."""

from __future__ import annotations

from pydantic import EmailStr, Field

from kpitree.spec.models.base import Identifier, SpecModel


class PersonSpec(SpecModel):
    id: Identifier
    name: str
    email: EmailStr | None = None
    slack: str | None = Field(default=None, description="Slack member id (U...) or channel (#name or C...)")
    role: str | None = Field(default=None, description="free text, e.g. 'Head of Customer Success'")


class TeamSpec(SpecModel):
    """A role or group that owns branches; alerts go to its own address, else to its members."""

    id: Identifier
    name: str
    members: list[Identifier] = Field(default_factory=list)
    email: EmailStr | None = None
    slack: str | None = None
