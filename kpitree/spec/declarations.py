"""Every node a tree file declares, wherever it is written.

Nodes are written at the top level (``nodes:``) and inside other nodes: the branches of a split,
and the engagement types and signals of a score. Validators and the compiler see them all the
same way, as :class:`NodeDecl` with the YAML path they came from and their structural children.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kpitree.formula import FormulaSyntaxError, parse_formula, referenced_ids
from kpitree.spec.edge import Draft
from kpitree.spec.models import NodeFields, NodeSpec, SplitSpec
from kpitree.spec.models.base import Scalar
from kpitree.spec.yaml_source import YamlPath


@dataclass(frozen=True)
class BranchRestriction:
    """Rows a split branch keeps: ``column`` in ``values``; or, for the catch-all branch,
    ``column`` not in ``excluded`` or NULL."""

    column: str
    values: tuple[Scalar, ...] = ()
    excluded: tuple[Scalar, ...] | None = None

    @property
    def is_other(self) -> bool:
        return self.excluded is not None


class DeclRole(enum.StrEnum):
    NODE = "node"  # top level: a measure, a formula or a score
    BRANCH = "branch"  # a branch of a split measure
    ENGAGEMENT_TYPE = "engagement_type"  # a branch of a score
    SIGNAL = "signal"  # a weighted signal inside an engagement type


@dataclass(frozen=True)
class Edge:
    """A parent-child link, with the YAML path that declares it (for error positions)."""

    parent: str
    child: str
    path: YamlPath


@dataclass(frozen=True)
class NodeDecl:
    id: str
    path: YamlPath
    spec: NodeFields
    role: DeclRole
    container: str | None  # the node this one is written inside (split / score), if any
    source: str | None  # the source whose columns this node can use, if any
    restriction: BranchRestriction | None = None  # split branches: the rows this branch keeps of its container's


def declarations(draft: Draft) -> list[NodeDecl]:
    """All declared nodes in file order, nested ones right after their container."""
    result: list[NodeDecl] = []
    for node, path in zip(draft.spec.nodes, draft.node_paths, strict=True):
        source = node.measure.source if node.measure else node.score.source if node.score else None
        result.append(NodeDecl(node.id, path, node, DeclRole.NODE, None, source))
        if node.split is not None:
            result.extend(_branches(node.id, node.split, (*path, "split"), source))
        if node.score is not None:
            for t_index, etype in enumerate(node.score.types):
                t_path = (*path, "score", "types", t_index)
                result.append(NodeDecl(etype.id, t_path, etype, DeclRole.ENGAGEMENT_TYPE, node.id, source))
                for s_index, signal in enumerate(etype.signals):
                    s_path = (*t_path, "signals", s_index)
                    result.append(NodeDecl(signal.id, s_path, signal, DeclRole.SIGNAL, etype.id, source))
    return result


def _branches(parent: str, split: SplitSpec, path: YamlPath, source: str | None) -> Iterator[NodeDecl]:
    named = tuple(value for branch in split.branches for value in branch.values or ())
    for index, branch in enumerate(split.branches):
        b_path = (*path, "branches", index)
        restriction = (
            BranchRestriction(split.by, excluded=named)
            if branch.other
            else BranchRestriction(split.by, values=tuple(branch.values or ()))
        )
        yield NodeDecl(branch.id, b_path, branch, DeclRole.BRANCH, parent, source, restriction)
        if branch.split is not None:
            yield from _branches(branch.id, branch.split, (*b_path, "split"), source)


def formula_children(node: NodeSpec) -> tuple[str, ...]:
    """A formula node's tree children: its explicit ``children``, else the ids its formula names."""
    if node.children is not None:
        return tuple(node.children)
    if node.formula is None:
        return ()
    try:
        return referenced_ids(parse_formula(node.formula))
    except FormulaSyntaxError:
        return ()


def edges(decls: list[NodeDecl]) -> list[Edge]:
    """Parent -> child links of the whole tree: formulas, splits, score types and signals."""
    result: list[Edge] = []
    for decl in decls:
        if decl.container is not None:
            result.append(Edge(decl.container, decl.id, decl.path))
        spec = decl.spec
        if isinstance(spec, NodeSpec) and spec.formula is not None:
            children_path = (*decl.path, "children") if spec.children is not None else (*decl.path, "formula")
            result.extend(Edge(decl.id, child, children_path) for child in formula_children(spec))
    return result


def raw_node_ids(data: Any) -> dict[str, list[YamlPath]]:
    """Every node id written in the raw YAML, valid node or not, with where each is written.

    References are checked against these and duplicates are found among them, so one malformed
    node yields one error, not one more for every formula that names it.
    """
    found: dict[str, list[YamlPath]] = {}

    def visit(items: Any, path: YamlPath, nested: tuple[str, ...]) -> None:
        for index, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            item_path = (*path, index)
            if isinstance(item.get("id"), str):
                found.setdefault(item["id"], []).append(item_path)
            for key in nested:
                inner = item.get(key)
                if key == "split" and isinstance(inner, dict):
                    visit(inner.get("branches"), (*item_path, "split", "branches"), ("split",))
                elif key == "score" and isinstance(inner, dict):
                    visit(inner.get("types"), (*item_path, "score", "types"), ("signals",))
                elif key == "signals":
                    visit(inner, (*item_path, "signals"), ())

    visit(data.get("nodes") if isinstance(data, dict) else None, ("nodes",), ("split", "score"))
    return found


def raw_owner_ids(data: Any) -> dict[str, list[YamlPath]]:
    """Every person and team id written in the raw YAML (one namespace), with where each is written."""
    found: dict[str, list[YamlPath]] = {}
    for key in ("people", "teams"):
        items = data.get(key) if isinstance(data, dict) else None
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                found.setdefault(item["id"], []).append((key, index))
    return found
