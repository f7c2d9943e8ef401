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
