"""A node's value for one period: a number, or no number and the reason why."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeValue:
    value: float | None
    reason: str | None = None  # why there is no value; None when there is one

    def __post_init__(self) -> None:
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"a node value must be finite, got {self.value}")  # never inf or NaN downstream

    @classmethod
    def from_warehouse(cls, raw: object, what: str) -> NodeValue:
        """A number the warehouse computed, or no value with the reason when it is NaN or infinite
        (a table kpitree did not load can hold them; ``kpitree load`` refuses them)."""
        value = float(raw)  # type: ignore[arg-type]  # a SQL aggregate: int, float or Decimal
        if math.isfinite(value):
            return cls(value)
        return cls(None, f"the warehouse's {what} is {value}: the table holds NaN or infinite values")
