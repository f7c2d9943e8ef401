"""Validation issues: every problem in a tree file, with where it is and how to fix it.

Validators append issues to a list instead of raising, so one run reports every problem.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from kpitree.errors import UserError


class Level(enum.StrEnum):
    ERROR = "error"  # the tree cannot be used
    WARNING = "warning"  # the tree works, but probably not as meant


class IssueCode(enum.StrEnum):
    """What kind of problem an issue is; stable, documented in docs/tree-spec.md."""

    ALERT_RULE = "alert_rule"
    BAND_OVERLAP = "band_overlap"
    BAND_RANGE = "band_range"
    CHILDREN_NEED_FORMULA = "children_need_formula"
    COLUMN_EXPRESSION = "column_expression"
    CONTROL_CHARACTER = "control_character"
    CYCLE = "cycle"
    DUPLICATE_ACCOUNTABLE = "duplicate_accountable"
    DUPLICATE_BAND = "duplicate_band"
    DUPLICATE_ID = "duplicate_id"
    DUPLICATE_KEY = "duplicate_key"
    DUPLICATE_SIGNAL = "duplicate_signal"
    ENTITY_OWNER = "entity_owner"
    FILE_TOO_LARGE = "file_too_large"
    FORMULA_CHILDREN_MISMATCH = "formula_children_mismatch"
    FORMULA_SYNTAX = "formula_syntax"
    FORMULA_TOO_COMPLEX = "formula_too_complex"
    INVALID_CHOICE = "invalid_choice"
    INVALID_CRON = "invalid_cron"
    INVALID_EMAIL = "invalid_email"
    INVALID_IDENTIFIER = "invalid_identifier"
    INVALID_VALUE = "invalid_value"
    MISSING_ACCOUNTABLE = "missing_accountable"
    MISSING_COLUMN = "missing_column"
    MISSING_DIRECTION = "missing_direction"
    MISSING_KEY = "missing_key"
    NO_BANDS = "no_bands"
    NO_TIME_COLUMN = "no_time_column"
    NODE_KIND_CONFLICT = "node_kind_conflict"
    NODE_KIND_MISSING = "node_kind_missing"
    NOT_A_NUMBER = "not_a_number"
    NOT_A_TREE = "not_a_tree"
    SEGMENT_BY = "segment_by"
    SOURCE_LOCATION = "source_location"
    SPLIT_BRANCHES = "split_branches"
    SPLIT_NEEDS_MEASURE = "split_needs_measure"
    TARGET_EMPTY = "target_empty"
    TARGET_MIXED = "target_mixed"
    TEMPLATE = "template"
    TEMPLATE_LOCATION = "template_location"
    UNKNOWN_ALERT_RULE = "unknown_alert_rule"
    UNKNOWN_BAND = "unknown_band"
    UNKNOWN_COLUMN = "unknown_column"
    UNKNOWN_KEY = "unknown_key"
    UNKNOWN_NODE = "unknown_node"
    UNKNOWN_PERSON = "unknown_person"
    UNKNOWN_SOURCE = "unknown_source"
    UNKNOWN_TIMEZONE = "unknown_timezone"
    UNREACHABLE_NODE = "unreachable_node"
    UNREADABLE_FILE = "unreadable_file"
    UNSUPPORTED_FILE = "unsupported_file"
    WAREHOUSE = "warehouse"
    YAML_SYNTAX = "yaml_syntax"
    YAML_TAG = "yaml_tag"
    YAML_TOO_COMPLEX = "yaml_too_complex"


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
    code: IssueCode
    message: str
    hint: str = ""

    @property
    def is_error(self) -> bool:
        return self.level is Level.ERROR

    def format(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.level.value} [{self.code.value}] {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["level"] = self.level.value
        data["code"] = self.code.value
        return data


def sort_issues(issues: list[ValidationIssue]) -> list[ValidationIssue]:
    """Issues in reading order: by file, then position; errors before warnings at the same spot."""
    return sorted(issues, key=lambda i: (i.file, i.line, i.column, i.level is not Level.ERROR, i.code))


class TreeInvalid(UserError):
    """A tree file failed validation; ``issues`` holds every problem found in one pass."""

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        errors = [issue for issue in issues if issue.is_error]
        super().__init__(f"{len(errors)} validation error(s); run 'kpitree validate' to list them")
        self.issues = tuple(issues)
