"""Load tree files: read, validate (collecting every issue), compile, and check the alert
templates a tree overrides. It sits above the alert layer (see docs/architecture.md) because a
template is checked against the contexts alerts give it; the checks themselves live with what
they check (:mod:`kpitree.spec` for the file, :mod:`kpitree.alert.template_check` for templates).

load_tree(path)          -> LoadResult(tree or None, issues)
load_tree_or_raise(path) -> MetricTree, or TreeInvalid carrying every issue
tree_files(paths)        -> the YAML files named by paths and directories
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kpitree.alert.template_check import check_templates
from kpitree.errors import TreeNotFound
from kpitree.spec.check_columns import check_derived_columns
from kpitree.spec.check_graph import check_graph, check_ids, check_owners
from kpitree.spec.check_nodes import check_nodes
from kpitree.spec.check_tree import check_drill_columns, check_settings, check_sources, check_team_members
from kpitree.spec.declarations import declarations, edges, raw_node_ids, raw_owner_ids
from kpitree.spec.edge import validate_structure
from kpitree.spec.issues import IssueCode, Level, TreeInvalid, ValidationIssue, sort_issues
from kpitree.spec.models import SourceSpec
from kpitree.spec.sink import IssueSink
from kpitree.spec.yaml_source import MAX_FILE_BYTES, YamlDocument, YamlPath, parse_yaml, too_large
from kpitree.tree import MetricTree
from kpitree.tree.compile import compile_tree

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadResult:
    file: str
    tree: MetricTree | None  # None when there is any error
    issues: tuple[ValidationIssue, ...]
    # Where things stand in the file, for problems found later (against a warehouse, say).
    document: YamlDocument | None = field(default=None, repr=False, compare=False)
    node_paths: Mapping[str, YamlPath] = field(default_factory=dict, repr=False, compare=False)

    def issue_at(
        self,
        message: str,
        hint: str,
        *,
        source: str | None = None,
        node: str | None = None,
        key: str | None = None,
        level: Level = Level.ERROR,
        code: IssueCode = IssueCode.WAREHOUSE,
    ) -> ValidationIssue:
        """An issue at the node's (or else the source's) line: at ``key`` of its measure or score, or of
        the source, when that key is written, else at the node or source itself."""
        at_node: list[YamlPath] = []
        if node is not None and node in self.node_paths:
            base = self.node_paths[node]
            at_node += [(*base, part, key) for part in ("measure", "score") if key]
            at_node += [(*base, "measure"), (*base, "score"), base]
        at_source: list[YamlPath] = []
        if source is not None:
            at_source += [("sources", source, key)] if key else []
            at_source.append(("sources", source))
        # A key of the source (time_column, where, joins) is best shown where the source says it.
        candidates = at_source + at_node if key in SourceSpec.model_fields else at_node + at_source
        spans = self.document.spans if self.document else {}
        path = next((candidate for candidate in candidates if candidate in spans), ())
        position = self.document.key_position(path) if self.document else None
        line, column = (position.line, position.column) if position else (1, 1)
        return ValidationIssue(self.file, line, column, level, code, message, hint)

    @property
    def errors(self) -> tuple[ValidationIssue, ...]:
        return tuple(issue for issue in self.issues if issue.is_error)

    @property
    def warnings(self) -> tuple[ValidationIssue, ...]:
        return tuple(issue for issue in self.issues if not issue.is_error)


def load_tree(path: Path) -> LoadResult:
    file = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return LoadResult(file, None, (too_large(file, size),))
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        issue = ValidationIssue(
            file,
            1,
            1,
            Level.ERROR,
            IssueCode.UNREADABLE_FILE,
            f"cannot read file: {exc}",
            "check the path, and that the file is UTF-8 text",
        )
        return LoadResult(file, None, (issue,))
    doc, reading_issues = parse_yaml(text, file)
    if doc is None:
        return LoadResult(file, None, tuple(reading_issues))
    sink = IssueSink(doc, reading_issues)
    draft = validate_structure(doc.data, sink)
    if draft is not None:
        sink.suppressed = draft.pruned
        decls = declarations(draft)
        written_nodes = raw_node_ids(doc.data)
        written_owners = raw_owner_ids(doc.data)
        check_settings(draft, sink)
        check_ids(written_owners, "person or team", "give each person and team its own id", sink)
        check_team_members(draft, written_owners, sink)
        check_sources(draft, sink)
        check_derived_columns(draft, sink)
        check_drill_columns(draft, sink)
        check_ids(written_nodes, "node", "every node needs its own id: formulas and owners refer to nodes by id", sink)
        check_nodes(draft, decls, written_nodes, sink)
        check_owners(draft, decls, written_owners, sink)
        links = edges(decls)
        check_graph(draft, decls, links, written_nodes, sink)
    issues = tuple(sort_issues(_dedupe(sink.issues)))
    if draft is None or sink.has_errors:
        return LoadResult(file, None, issues)
    tree = compile_tree(draft, decls, links, path, text)
    check_templates(tree, sink)
    if sink.has_errors:
        return LoadResult(file, None, tuple(sort_issues(_dedupe(sink.issues))))
    return LoadResult(file, tree, issues, doc, {decl.id: decl.path for decl in decls})


def _dedupe(issues: Iterable[ValidationIssue]) -> list[ValidationIssue]:
    # The same problem can be seen from two sides (a formula and its children); say it once.
    return list(dict.fromkeys(issues))


def load_tree_or_raise(path: Path) -> MetricTree:
    result = load_tree(path)
    if result.tree is None:
        raise TreeInvalid(result.issues)
    return result.tree


def tree_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories into their YAML files (sorted); a missing path is a TreeNotFound."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise TreeNotFound(f"no such file or directory: {path}")
    return files
