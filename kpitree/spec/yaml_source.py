"""A tree file as plain data, with where every key and value stands.

:mod:`kpitree.spec.yaml_reader` reads the file within bounds and records a ``path -> Span`` index,
so validators can point at any element by its path (``("nodes", 3, "formula")``) without touching
YAML types. The data handed on is plain ``dict`` / ``list`` / scalars, ready for pydantic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from kpitree.spec.issues import IssueCode, Level, Position, ValidationIssue
from kpitree.spec.yaml_reader import PathKey, Span, YamlPath, read_yaml

__all__ = ["MAX_FILE_BYTES", "PathKey", "Span", "YamlDocument", "YamlPath", "parse_yaml", "too_large"]

# A tree file is a few hundred lines; 2 MB is a hundred times the largest shipped one, and small
# enough that reading it is quick whatever it holds.
MAX_FILE_BYTES: Final = 2 * 1024 * 1024


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: plain data plus the position of every path in it."""

    file: str
    data: Any
    spans: dict[YamlPath, Span] = field(repr=False)
    lines: tuple[str, ...] = field(default=(), repr=False)
    # Paths whose values the reader refused (and reported): later checks do not report them again.
    rejected: frozenset[YamlPath] = field(default=frozenset(), repr=False)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line ('' past the end)."""
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def key_position(self, path: Iterable[PathKey]) -> Position:
        """Position of the key at ``path`` (or of the nearest enclosing element that exists)."""
        return self._nearest(tuple(path)).key

    def value_position(self, path: Iterable[PathKey]) -> Position:
        """Position of the value at ``path`` (or of the nearest enclosing element that exists)."""
        return self._nearest(tuple(path)).value

    def is_rejected(self, path: Iterable[PathKey]) -> bool:
        """Whether ``path`` is, or lies under, a value the reader refused."""
        path = tuple(path)
        return any(path[: len(bad)] == bad for bad in self.rejected)

    def _nearest(self, path: YamlPath) -> Span:
        while path and path not in self.spans:
            path = path[:-1]
        return self.spans.get(path, Span(Position(1, 1), Position(1, 1)))


def parse_yaml(text: str, file: str) -> tuple[YamlDocument | None, list[ValidationIssue]]:
    """Parse ``text``; every problem comes back as an issue, never as an exception.

    The document is None only when the file cannot be read as YAML at all (a syntax error, a limit
    passed); a refused value leaves a document whose other parts are still checked."""
    result = read_yaml(text, file)
    if result.data is None and not result.spans:
        return None, list(result.issues)
    doc = YamlDocument(file, result.data, result.spans, tuple(text.splitlines()), result.rejected)
    return doc, list(result.issues)


def too_large(file: str, size: int) -> ValidationIssue:
    """The issue for a file over :data:`MAX_FILE_BYTES` (it is not read)."""
    return ValidationIssue(
        file,
        1,
        1,
        Level.ERROR,
        IssueCode.FILE_TOO_LARGE,
        f"the file is {size:,} bytes; a tree file may be at most {MAX_FILE_BYTES:,}",
        "split it into several trees, or check that it is the file you meant",
    )
