"""Where validators put what they find: issues located by YAML path."""

from __future__ import annotations

from dataclasses import dataclass, field

from kpitree.spec.issues import IssueCode, Level, Position, ValidationIssue
from kpitree.spec.yaml_source import PathKey, YamlDocument, YamlPath


@dataclass
class IssueSink:
    """Collects issues for one document; positions come from paths, so checks never count lines."""

    doc: YamlDocument
    issues: list[ValidationIssue] = field(default_factory=list)
    # Parts of the file that failed structural validation (reported there): the checks that run on
    # the rest of the file report nothing at or under them, so one mistake is one message.
    suppressed: frozenset[YamlPath] = frozenset()

    def add(
        self,
        level: Level,
        path: tuple[PathKey, ...],
        code: IssueCode,
        message: str,
        hint: str = "",
        *,
        at_key: bool = False,
        offset: int = 0,
    ) -> None:
        """Record an issue at ``path``: its value (default) or its key; ``offset`` columns further in.

        Nothing is recorded under a value the YAML reader refused, or that structural validation
        left out: each said why, once, already."""
        if self.doc.is_rejected(path) or any(path[: len(bad)] == bad for bad in self.suppressed):
            return
        pos = self.doc.key_position(path) if at_key else self.doc.value_position(path)
        if offset:
            pos = Position(pos.line, pos.column + offset + self._quote_width(pos))
        self.issues.append(ValidationIssue(self.doc.file, pos.line, pos.column, level, code, message, hint))

    def error(
        self,
        path: tuple[PathKey, ...],
        code: IssueCode,
        message: str,
        hint: str = "",
        *,
        at_key: bool = False,
        offset: int = 0,
    ) -> None:
        self.add(Level.ERROR, path, code, message, hint, at_key=at_key, offset=offset)

    def warning(
        self, path: tuple[PathKey, ...], code: IssueCode, message: str, hint: str = "", *, at_key: bool = False
    ) -> None:
        self.add(Level.WARNING, path, code, message, hint, at_key=at_key)

    def pruned_within(self, path: tuple[PathKey, ...]) -> bool:
        """Whether structural validation left something out of the mapping at ``path``: then "this
        mapping lacks X" is not said, since the part that was written for X was reported already
        (a misspelled 'colunm' is one mistake, not also "sum needs a column")."""
        return any(len(bad) > len(path) and bad[: len(path)] == path for bad in self.suppressed)

    @property
    def has_errors(self) -> bool:
        return any(issue.is_error for issue in self.issues)

    def _quote_width(self, pos: Position) -> int:
        # An offset into a quoted scalar starts after its opening quote.
        line = self.doc.line_text(pos.line)
        return 1 if line[pos.column - 1 : pos.column] in ('"', "'") else 0
