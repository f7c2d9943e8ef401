"""Shared building blocks of the YAML edge: strict models, identifiers, durations."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints, WithJsonSchema

from kpitree import durations

IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

# Node, person, team and source ids: usable as names in formulas, so identifier-shaped.
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN, min_length=1, max_length=80)]

# A RACI owner: a person id, a team id, or ``entity:<column>`` resolved per entity from the warehouse.
OwnerRef = Annotated[str, StringConstraints(pattern=r"^(entity:[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*)$")]

Scalar = str | int | float | bool


class SpecModel(BaseModel):
    """Base of every YAML-edge model: unknown keys are errors, values are immutable once read, and
    no number is NaN or infinite (a band of ``.nan`` would silently never fire)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False)


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


OwnerList = Annotated[
    list[OwnerRef],
    BeforeValidator(_one_or_many),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            "description": "one owner or a list: person id, team id, or entity:<column>",
        }
    ),
]


def parse_duration(text: str) -> timedelta:
    """A tree file's duration (``30min``, ``24h``, ``7d``, ``2w``; see :mod:`kpitree.durations`) as a
    timedelta; a ValueError (a :class:`kpitree.durations.DurationError`) otherwise."""
    return durations.parse_duration(text, durations.FIXED_UNITS, minimum=0).fixed


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(min|m|h|d|w)$", "examples": ["30min", "24h", "7d"]}),
]
