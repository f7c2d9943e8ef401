"""A node's value for one period: a number, or no number and the reason why."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeValue:
    value: float | None
    reason: str | None = None  # why there is no value; None when there is one
    # Measures over a column: the rows the measure kept in the period, and how many of them had
    # NULL in its column (which sum, avg and count_distinct skip). None for other nodes.
    rows: int | None = None
    nulls: int = 0

    def __post_init__(self) -> None:
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"a node value must be finite, got {self.value}")  # never inf or NaN downstream

    @classmethod
    def from_warehouse(cls, raw: object, what: str, rows: int | None = None, nulls: int = 0) -> NodeValue:
        """A number the warehouse computed, or no value with the reason when it is NaN or infinite
        (a table kpitree did not load can hold them; ``kpitree load`` refuses them)."""
        value = float(raw)  # type: ignore[arg-type]  # a SQL aggregate: int, float or Decimal
        if math.isfinite(value):
            return cls(value, None, rows, nulls)
        return cls(None, f"the warehouse's {what} is {value}: the table holds NaN or infinite values", rows, nulls)
