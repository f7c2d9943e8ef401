"""Turn a draft that validated clean into a :class:`~kpitree.tree.MetricTree`."""

from __future__ import annotations

import hashlib
from collections import deque
from pathlib import Path

from kpitree.errors import InternalError
from kpitree.formula import parse_formula
from kpitree.spec.check_graph import root_id
from kpitree.spec.declarations import DeclRole, Edge, NodeDecl
from kpitree.spec.edge import Draft
from kpitree.spec.models import BranchSpec, NodeFields, NodeSpec, OwnersSpec, SignalSpec
from kpitree.tree import BranchRestriction, Direction, MetricTree, Node, NodeKind, Owners

_ROLE_KINDS = {
    DeclRole.BRANCH: NodeKind.MEASURE,
    DeclRole.ENGAGEMENT_TYPE: NodeKind.ENGAGEMENT_TYPE,
    DeclRole.SIGNAL: NodeKind.SIGNAL,
}


def compile_tree(draft: Draft, decls: list[NodeDecl], links: list[Edge], path: Path, text: str) -> MetricTree:
    """``decls`` and ``links`` are the draft's declarations and edges, as validation computed them."""
    by_id = {decl.id: decl for decl in decls}
    children: dict[str, list[str]] = {decl.id: [] for decl in decls}
    for link in links:
        children[link.parent].append(link.child)
    root = root_id(draft)
    if root is None or root not in by_id:
        raise InternalError("compile_tree called on a draft without a valid root")
    order, parent = _tree_order(root, children, [decl.id for decl in decls])
    nodes: dict[str, Node] = {}
    for node_id in order:
        decl = by_id[node_id]
        parent_id = parent[node_id]
        up = nodes.get(parent_id) if parent_id else None
        container = nodes.get(decl.container) if decl.container else None
        # A branch keeps its container's rows, narrowed by its own restriction (outermost split first).
        restrictions = (
            *(container.restrictions if container else ()),
            *((decl.restriction,) if decl.restriction else ()),
        )
        nodes[node_id] = _compile_node(decl, up, container, tuple(children[node_id]), parent_id, restrictions)
    spec = draft.spec
    return MetricTree(
        id=spec.tree,
        title=spec.title,
        description=spec.description,
        path=path,
        version=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        root=root,
        grain=spec.grain,
        timezone=spec.timezone,
        calendar=spec.calendar,
        schedule=spec.schedule,
        alerting=spec.alerting,
        people={p.id: p for p in spec.people},
        teams={t.id: t for t in spec.teams},
        sources=dict(spec.sources),
        nodes=nodes,
        drill=tuple(dict.fromkeys(spec.drill)),
    )


def _tree_order(
    root: str, children: dict[str, list[str]], declared: list[str]
) -> tuple[list[str], dict[str, str | None]]:
    """Breadth-first parents (so inheritance comes from the shallowest parent), depth-first order."""
    parent: dict[str, str | None] = {root: None}
    queue = deque([root])
    while queue:
        current = queue.popleft()
        for child in children[current]:
            if child not in parent:
                parent[child] = current
                queue.append(child)
    order: list[str] = []

    def visit(node_id: str) -> None:
        if node_id in order:
            return
        order.append(node_id)
        for child in children[node_id]:
            if parent.get(child) == node_id:
                visit(child)

    visit(root)
    # Nodes outside the root's tree (validation warned about them) keep their declared order.
    for node_id in declared:
        if node_id not in parent:
            parent[node_id] = None
            visit(node_id)
    return order, parent


def _inherit(own: OwnersSpec | None, up: Owners | None) -> Owners:
    base = up or Owners()
    if own is None:
        return base
    return Owners(
        responsible=tuple(own.responsible) if own.responsible is not None else base.responsible,
        accountable=own.accountable[0] if own.accountable else base.accountable,
        consulted=tuple(own.consulted) if own.consulted is not None else base.consulted,
        informed=tuple(own.informed) if own.informed is not None else base.informed,
    )


def _compile_node(
    decl: NodeDecl,
    up: Node | None,
    container: Node | None,
    children: tuple[str, ...],
    parent: str | None,
    restrictions: tuple[BranchRestriction, ...],
) -> Node:
    spec: NodeFields = decl.spec
    kind = _ROLE_KINDS.get(decl.role)
    if isinstance(spec, NodeSpec):
        kind = NodeKind.MEASURE if spec.measure else NodeKind.SCORE if spec.score else NodeKind.FORMULA
    if kind is None:
        raise InternalError(f"node {decl.id!r} has no kind")
    direction = spec.direction or (up.direction.value if up else Direction.HIGHER_IS_BETTER.value)
    unit = spec.unit if spec.unit is not None else (container.unit if container else "")
    node_spec = spec if isinstance(spec, NodeSpec) else None
    owners = _inherit(spec.owners, up.owners if up else None)
    segment_owners = tuple(
        (label, _inherit(block, owners))
        for label, block in ((node_spec.segment_owners or {}) if node_spec else {}).items()
    )
    return Node(
        id=decl.id,
        title=spec.title or decl.id.replace("_", " ").capitalize(),
        description=spec.description,
        kind=kind,
        unit=unit,
        direction=Direction(direction),
        owners=owners,
        children=children,
        parent=parent,
        target=spec.target,
        benchmarks=tuple(spec.benchmarks),
        alerts=tuple(spec.alerts),
        per=spec.per or (container.per if container else None),
        display=spec.display or (container.display if container else "number"),
        decimals=spec.decimals if spec.decimals is not None else (container.decimals if container else None),
        measure=node_spec.measure if node_spec else (container.measure if container else None),
        restrictions=restrictions,
        split_by=spec.split.by if isinstance(spec, NodeSpec | BranchSpec) and spec.split else None,
        segment_by=node_spec.segment_by if node_spec else None,
        segment_owners=segment_owners,
        formula=parse_formula(node_spec.formula) if node_spec and node_spec.formula else None,
        formula_text=node_spec.formula if node_spec else None,
        score=node_spec.score if node_spec and node_spec.score else (container.score if container else None),
        signal=spec if isinstance(spec, SignalSpec) else None,
    )
