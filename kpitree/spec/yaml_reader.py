"""A bounded reader of untrusted YAML: events in, plain data and positions out.

Tree files come from a shared repository, so the reader treats them as hostile. It never runs a
constructor a file can pick (tags other than YAML's core ones are refused), and it builds the data
from ruamel.yaml's *event stream* (a state machine, not recursion), so that every limit is checked
before the work it bounds is done:

- ``MAX_NODES``: the number of values after aliases are expanded. A "billion laughs" file of a
  few hundred bytes stops at its first alias over the budget, with that alias's line.
- ``MAX_DEPTH``: how deeply mappings and lists nest, aliases included.
- scalars are checked by :mod:`kpitree.spec.yaml_scalars` (finite numbers of sane length, no
  control characters).

A bad scalar (a refused tag, a too-long integer, a control character from an escape) is reported
and its path *rejected*; the rest of the file is still read, so one run reports every problem.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from kpitree.errors import InternalError
from kpitree.spec.issues import IssueCode, Level, Position, ValidationIssue
from kpitree.spec.yaml_scalars import ScalarProblem, scalar_value, unreadable_characters

MAX_NODES: Final = 100_000
MAX_DEPTH: Final = 64

PathKey = str | int
YamlPath = tuple[PathKey, ...]

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS: Final = frozenset(
    f"{_CORE}{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp", "merge", "value")
)


@dataclass(frozen=True)
class Span:
    """Where an element stands: its key (for mapping entries) and its value."""

    key: Position
    value: Position


@dataclass(frozen=True)
class ReadResult:
    """What the reader made of a file: data (None when it could not be read at all), every position,
    the paths whose values were refused, and the issues found."""

    data: Any
    spans: dict[YamlPath, Span]
    rejected: frozenset[YamlPath]
    issues: tuple[ValidationIssue, ...]


class _Stop(Exception):
    """A limit was passed: reading goes no further (the issue is already recorded)."""


@dataclass
class _Anchor:
    value: Any
    size: int
    depth: int
    path: YamlPath
    entries: tuple[int, int]  # the slice of span entries recorded under the anchored value


@dataclass
class _Frame:
    """A mapping or list being read."""

    path: YamlPath
    container: dict[str, Any] | list[Any]
    position: Position
    anchor: str | None
    first_entry: int
    is_key: bool  # a collection written where a mapping key belongs
    size: int = 1  # values it expands to, itself included
    depth: int = 1  # levels of nesting, itself included
    key: str | None = None  # a mapping's pending key, read but not yet given its value
    key_position: Position | None = None
    merges: list[tuple[Any, Position]] = field(default_factory=list)
    duplicate: bool = False  # the pending key was seen before: its value is read and dropped


def _position(event: Event) -> Position:
    # ruamel counts from 0; editors and humans count from 1.
    return Position(event.start_mark.line + 1, event.start_mark.column + 1)


class BoundedReader:
    """One file's reading; use :func:`read_yaml`."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[ValidationIssue] = []
        self.entries: list[tuple[YamlPath, Span]] = [((), Span(Position(1, 1), Position(1, 1)))]
        self.rejected: set[YamlPath] = set()
        self.anchors: dict[str, _Anchor] = {}
        self.open_anchors: set[str] = set()
        self.stack: list[_Frame] = []
        self.nodes = 0
        self.root: Any = None
        self.documents = 0
        self.resolver = VersionedResolver()
        self.text = ""
        self.replaced: list[int] = []  # offsets of characters read as spaces (each reported)

    def issue(self, position: Position, code: IssueCode, message: str, hint: str) -> None:
        self.issues.append(ValidationIssue(self.file, position.line, position.column, Level.ERROR, code, message, hint))

    # -- the event loop -------------------------------------------------------------------------------

    def read(self, text: str) -> ReadResult:
        text = self._without_control_characters(text)
        self.text = text
        try:
            for event in YAML(typ="safe", pure=True).parse(text):
                self._event(event)
        except _Stop:
            return ReadResult(None, {}, frozenset(), tuple(self.issues))
        except MarkedYAMLError as exc:
            self.issues.append(_syntax_issue(exc, self.file))
            return ReadResult(None, {}, frozenset(), tuple(self.issues))
        except YAMLError as exc:
            self.issue(Position(1, 1), IssueCode.YAML_SYNTAX, f"YAML error: {exc}", _SYNTAX_HINT)
            return ReadResult(None, {}, frozenset(), tuple(self.issues))
        spans = dict(self.entries)
        return ReadResult(self.root, spans, frozenset(self.rejected), tuple(self.issues))

    def _event(self, event: Event) -> None:
        if isinstance(event, DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.issue(
                    _position(event),
                    IssueCode.YAML_SYNTAX,
                    "a tree file holds one YAML document; this is a second one",
                    "remove the '---' line and what follows it, or put that tree in a file of its own",
                )
                raise _Stop
        elif isinstance(event, ScalarEvent):
            self._scalar(event)
        elif isinstance(event, AliasEvent):
            self._alias(event)
        elif isinstance(event, CollectionStartEvent):
            self._start(event)
        elif isinstance(event, MappingEndEvent | SequenceEndEvent):
            self._end()

    # -- values ---------------------------------------------------------------------------------------

    def _scalar(self, event: ScalarEvent) -> None:
        position = _position(event)
        if self._is_key_slot():
            self._key(event.value, position, event)
            return
        self._count(position, 1, 0)
        path = self._child_path()
        value = self._construct(event, path, position)
        if self._holds_replaced(event):
            self.rejected.add(path)  # reported as a control character already; not again as a bad value
        if event.anchor is not None:
            index = len(self.entries)
            self.anchors[event.anchor] = _Anchor(value, 1, 0, path, (index, index))
        self._add(value, position, path, 1, 0)

    def _alias(self, event: AliasEvent) -> None:
        position = _position(event)
        name = event.anchor
        if name in self.open_anchors:
            self.issue(
                position,
                IssueCode.YAML_TOO_COMPLEX,
                f"alias *{name} refers to the collection that contains it",
                "a tree's data cannot refer to itself; write the values out",
            )
            raise _Stop
        anchor = self.anchors.get(name)
        if anchor is None:
            self.issue(position, IssueCode.YAML_SYNTAX, f"alias *{name} names no anchor", "define &name before *name")
            raise _Stop
        if self._is_key_slot():
            self._key(anchor.value if isinstance(anchor.value, str) else None, position, event)
            return
        self._count(position, anchor.size, anchor.depth)
        path = self._child_path()
        # The aliased value's positions are those of its anchor: that is where its text stands.
        start, end = anchor.entries
        for old, span in self.entries[start:end]:
            self.entries.append(((*path, *old[len(anchor.path) :]), span))
        self._add(anchor.value, position, path, anchor.size, anchor.depth)

    def _start(self, event: CollectionStartEvent) -> None:
        position = _position(event)
        is_key = self._is_key_slot()
        self._count(position, 1, 1)
        tag = event.tag
        path = self._child_path() if not is_key else (*self._frame_path(), "<key>")
        if tag is not None and tag not in _ALLOWED_TAGS:
            self._refuse_tag(tag, position, path)
        container: dict[str, Any] | list[Any] = {} if isinstance(event, MappingStartEvent) else []
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        frame = _Frame(path, container, position, event.anchor, len(self.entries), is_key)
        self.stack.append(frame)

    def _end(self) -> None:
        frame = self.stack.pop()
        if isinstance(frame.container, dict):
            for merged, position in frame.merges:
                for key, value in merged.items():
                    if key not in frame.container:
                        frame.container[key] = value
                        self.entries.append(((*frame.path, key), Span(position, position)))
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
            entries = (frame.first_entry, len(self.entries))
            self.anchors[frame.anchor] = _Anchor(frame.container, frame.size, frame.depth, frame.path, entries)
        if frame.is_key:
            self.issue(
                frame.position,
                IssueCode.INVALID_VALUE,
                "a mapping key must be plain text, not a mapping or a list",
                "write 'name: value' with a word before the colon",
            )
            self._key(None, frame.position, None)
            return
        self._add(frame.container, frame.position, frame.path, frame.size, frame.depth)

    # -- placing values -------------------------------------------------------------------------------

    def _is_key_slot(self) -> bool:
        top = self.stack[-1] if self.stack else None
        return isinstance(top, _Frame) and isinstance(top.container, dict) and top.key is None

    def _frame_path(self) -> YamlPath:
        return self.stack[-1].path if self.stack else ()

    def _child_path(self) -> YamlPath:
        if not self.stack:
            return ()
        top = self.stack[-1]
        if isinstance(top.container, list):
            return (*top.path, len(top.container))
        if top.key is None:
            raise InternalError("top.key is missing (a value slot of a mapping always follows its key)")
        return (*top.path, top.key)

    def _key(self, text: str | None, position: Position, event: ScalarEvent | AliasEvent | None) -> None:
        top = self.stack[-1]
        if not isinstance(top.container, dict):
            raise InternalError("unexpected type: not isinstance(top.container, dict)")
        if text is None:
            text = f"<key at line {position.line}>"
            self.rejected.add((*top.path, text))
        elif isinstance(event, ScalarEvent) and event.tag is not None and event.tag not in _ALLOWED_TAGS:
            self._refuse_tag(event.tag, position, (*top.path, text))
        top.key, top.key_position = text, position
        top.duplicate = text in top.container and text != "<<"
        if top.duplicate:
            self.issue(
                position,
                IssueCode.DUPLICATE_KEY,
                f"key {text!r} appears twice in the same mapping",
                "remove one of the two entries, or merge them",
            )

    def _add(self, value: Any, position: Position, path: YamlPath, size: int, depth: int) -> None:
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        top.size += size
        top.depth = max(top.depth, depth + 1)
        if isinstance(top.container, list):
            top.container.append(value)
            self.entries.append((path, Span(position, position)))
            return
        key, key_position = top.key, top.key_position
        if key is None:
            raise InternalError("key is missing (a value always follows its key)")
        if key_position is None:
            raise InternalError("key_position is missing")
        top.key = None
        if top.duplicate:
            return  # the first entry stands; the second was reported
        if key == "<<" and isinstance(value, dict | list):
            # YAML's merge key: the keys of the merged mapping(s) that this mapping does not set itself.
            items = value if isinstance(value, list) else [value]
            top.merges.extend((item, key_position) for item in items if isinstance(item, dict))
            return
        top.container[key] = value
        self.entries.append((path, Span(key_position, position)))

    def _construct(self, event: ScalarEvent, path: YamlPath, position: Position) -> Any:
        value: str = event.value
        tag = event.tag
        if tag is None or tag == "!":
            implicit = event.implicit if tag is None else (False, True)
            tag = str(self.resolver.resolve(ScalarNode, value, implicit))
        if tag not in _ALLOWED_TAGS:
            self._refuse_tag(tag, position, path)
            return value
        try:
            return scalar_value(tag.removeprefix(_CORE), value)
        except ScalarProblem as problem:
            self.rejected.add(path)
            self.issue(position, problem.code, problem.message, problem.hint)
            return value

    def _holds_replaced(self, event: ScalarEvent) -> bool:
        if not self.replaced:
            return False
        # A value left empty by a replaced character ends just before it: look one line on.
        start, end = event.start_mark.index, event.end_mark.index
        first = bisect.bisect_left(self.replaced, start)
        return first < len(self.replaced) and self.replaced[first] <= max(end, self._line_end(end))

    def _line_end(self, index: int) -> int:
        end = self.text.find("\n", index)
        return len(self.text) if end < 0 else end

    def _refuse_tag(self, tag: str, position: Position, path: YamlPath) -> None:
        self.rejected.add(path)
        self.issue(
            position,
            IssueCode.YAML_TAG,
            f"YAML tag {tag!r} is not allowed in a tree file",
            "remove the tag: tree files are plain YAML (text, numbers, true/false, lists and mappings)",
        )

    # -- limits ---------------------------------------------------------------------------------------

    def _count(self, position: Position, nodes: int, depth: int) -> None:
        self.nodes += nodes
        if self.nodes > MAX_NODES:
            self.issue(
                position,
                IssueCode.YAML_TOO_COMPLEX,
                f"the file expands to more than {MAX_NODES:,} values (aliases included) here",
                "a tree file this large is almost certainly an alias bomb; write the values out, "
                "or split the tree into several files",
            )
            raise _Stop
        if len(self.stack) + depth > MAX_DEPTH:
            self._too_deep(position)

    def _too_deep(self, position: Position) -> None:
        self.issue(
            position,
            IssueCode.YAML_TOO_COMPLEX,
            f"mappings and lists nest more than {MAX_DEPTH} levels deep here",
            "flatten the tree: declare deep branches as nodes of their own and refer to them in formulas",
        )
        raise _Stop

    def _without_control_characters(self, text: str) -> str:
        """Report every character YAML refuses, then read the text with each replaced by a space."""
        clean, self.replaced, found = unreadable_characters(text)
        for position, message in found:
            hint = "remove it (editors often show nothing there); a tree file is plain UTF-8 text"
            self.issue(position, IssueCode.CONTROL_CHARACTER, message, hint)
        return clean


_SYNTAX_HINT = "check indentation, quotes and brackets around this line; values holding ':' or '#' need quotes"


def _syntax_issue(exc: MarkedYAMLError, file: str) -> ValidationIssue:
    problem = exc.problem or str(exc)
    mark = exc.problem_mark or exc.context_mark
    if exc.context and exc.context_mark and mark and exc.context_mark.line != mark.line:
        # Say where the unclosed construct began: that is usually where the mistake is.
        problem += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return ValidationIssue(
        file, line, column, Level.ERROR, IssueCode.YAML_SYNTAX, f"YAML syntax error: {problem}", _SYNTAX_HINT
    )


def read_yaml(text: str, file: str) -> ReadResult:
    """Read ``text`` within the limits above; problems come back as issues, never as exceptions."""
    return BoundedReader(file).read(text)
