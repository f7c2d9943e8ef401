"""Read a YAML tree file and remember where every key and value stands.

ruamel.yaml's round-trip loader keeps line and column on every mapping and sequence; we flatten
them into a ``path -> Span`` index once, so validators can point at any element by its path
(``("nodes", 3, "formula")``) without touching YAML types. The data handed on is plain
``dict`` / ``list`` / scalars, ready for pydantic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError

from kpitree.spec.issues import IssueCode, Level, Position, ValidationIssue

PathKey = str | int
YamlPath = tuple[PathKey, ...]


@dataclass(frozen=True)
class Span:
    """Where an element stands: its key (for mapping entries) and its value."""

    key: Position
    value: Position


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: plain data plus the position of every path in it."""

    file: str
    data: Any
    spans: dict[YamlPath, Span] = field(repr=False)
    lines: tuple[str, ...] = field(default=(), repr=False)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line ('' past the end)."""
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def key_position(self, path: Iterable[PathKey]) -> Position:
        """Position of the key at ``path`` (or of the nearest enclosing element that exists)."""
        return self._nearest(tuple(path)).key

    def value_position(self, path: Iterable[PathKey]) -> Position:
        """Position of the value at ``path`` (or of the nearest enclosing element that exists)."""
        return self._nearest(tuple(path)).value

    def _nearest(self, path: YamlPath) -> Span:
        while path and path not in self.spans:
            path = path[:-1]
        return self.spans.get(path, Span(Position(1, 1), Position(1, 1)))


def _pos(line_col: tuple[int, int] | list[int]) -> Position:
    # ruamel counts from 0; editors and humans count from 1.
    return Position(int(line_col[0]) + 1, int(line_col[1]) + 1)


def _plain(node: Any, path: YamlPath, spans: dict[YamlPath, Span]) -> Any:
    """Convert ruamel containers to dict/list, recording spans along the way."""
    if isinstance(node, CommentedMap):
        result: dict[Any, Any] = {}
        for key, value in node.items():
            child = (*path, str(key))
            key_pos = _pos(node.lc.key(key))
            value_pos = _pos(node.lc.value(key))
            spans[child] = Span(key_pos, value_pos)
            result[str(key) if not isinstance(key, str) else key] = _plain(value, child, spans)
        return result
    if isinstance(node, CommentedSeq):
        items: list[Any] = []
        for index, value in enumerate(node):
            child = (*path, index)
            pos = _pos(node.lc.item(index))
            spans[child] = Span(pos, pos)
            items.append(_plain(value, child, spans))
        return items
    if isinstance(node, str):
        return str(node)  # drop ruamel's scalar-string subclasses
    return node


def parse_yaml(text: str, file: str) -> tuple[YamlDocument | None, list[ValidationIssue]]:
    """Parse ``text``; a syntax error comes back as an issue, never as an exception."""
    yaml = YAML(typ="rt")
    try:
        raw = yaml.load(text)
    except DuplicateKeyError as exc:
        key = (exc.problem or "").split('"')[1] if '"' in (exc.problem or "") else ""
        message = f"key {key!r} appears twice in the same mapping" if key else "duplicate key"
        return None, [
            _issue_at(exc, file, IssueCode.DUPLICATE_KEY, message, "remove one of the two entries, or merge them")
        ]
    except MarkedYAMLError as exc:
        problem = exc.problem or str(exc)
        mark = exc.problem_mark or exc.context_mark
        if exc.context and exc.context_mark and mark and exc.context_mark.line != mark.line:
            # Say where the unclosed construct began: that is usually where the mistake is.
            problem += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
        hint = "check indentation, quotes and brackets around this line; values holding ':' or '#' need quotes"
        return None, [_issue_at(exc, file, IssueCode.YAML_SYNTAX, f"YAML syntax error: {problem}", hint)]
    spans: dict[YamlPath, Span] = {(): Span(Position(1, 1), Position(1, 1))}
    data = _plain(raw, (), spans)
    return YamlDocument(file=file, data=data, spans=spans, lines=tuple(text.splitlines())), []


def _issue_at(exc: MarkedYAMLError, file: str, code: IssueCode, message: str, hint: str) -> ValidationIssue:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return ValidationIssue(file, line, column, Level.ERROR, code, message, hint)
