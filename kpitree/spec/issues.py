"""Validation issues: every problem in a tree file, with where it is and how to fix it.

Validators append issues to a list instead of raising, so one run reports every problem.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any


class Level(enum.StrEnum):
    ERROR = "error"  # the tree cannot be used
    WARNING = "warning"  # the tree works, but probably not as meant


@dataclass(frozen=True, order=True)
class Position:
    """A 1-based line and column in a file."""

    line: int
    column: int


@dataclass(frozen=True)
class ValidationIssue:
    """One problem: where (file, line, column), what (code, message) and how to fix it (hint)."""

    file: str
    line: int
    column: int
    level: Level
    code: str
    message: str
    hint: str = ""

    @property
    def is_error(self) -> bool:
        return self.level is Level.ERROR

    def format(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.level.value} [{self.code}] {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["level"] = self.level.value
        return data


def sort_issues(issues: list[ValidationIssue]) -> list[ValidationIssue]:
    """Issues in reading order: by file, then position; errors before warnings at the same spot."""
    return sorted(issues, key=lambda i: (i.file, i.line, i.column, i.level is not Level.ERROR, i.code))
