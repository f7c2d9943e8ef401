"""Checks across nodes: unique ids, the root, cycles, reachability, and RACI owners."""

from __future__ import annotations

import graphlib
from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING

from kpitree.spec.columns import available_columns
from kpitree.spec.declarations import Edge, NodeDecl
from kpitree.spec.edge import Draft
from kpitree.spec.issues import IssueCode
from kpitree.spec.models import NodeSpec, OwnersSpec
from kpitree.spec.sink import IssueSink
from kpitree.spec.suggest import did_you_mean
from kpitree.spec.yaml_source import YamlPath

if TYPE_CHECKING:
    import networkx as nx

MAX_CYCLES_REPORTED = 10


def check_ids(written: Mapping[str, list[YamlPath]], what: str, hint: str, sink: IssueSink) -> None:
    """Each id written twice or more is an error at every place after the first."""
    for item_id, paths in written.items():
        line = sink.doc.value_position((*paths[0], "id")).line
        for path in paths[1:]:
            sink.error(
                (*path, "id"), IssueCode.DUPLICATE_ID, f"{what} id {item_id!r} is already used on line {line}", hint
            )


def root_id(draft: Draft) -> str | None:
    """The KPI: ``root:`` if given, else the first node."""
    if draft.spec.root is not None:
        return draft.spec.root
    return draft.spec.nodes[0].id if draft.spec.nodes else None


def build_graph(decls: list[NodeDecl], links: list[Edge]) -> nx.DiGraph:
    import networkx as nx  # only a tree with a cycle needs it: keeps ~0.1 s off every valid load

    graph = nx.DiGraph()
    graph.add_nodes_from(decl.id for decl in decls)
    for link in links:
        graph.add_edge(link.parent, link.child, path=link.path)
    return graph


def check_graph(
    draft: Draft, decls: list[NodeDecl], links: list[Edge], known_ids: Collection[str], sink: IssueSink
) -> None:
    children: dict[str, list[str]] = {decl.id: [] for decl in decls}
    for link in links:
        children.setdefault(link.parent, []).append(link.child)
        children.setdefault(link.child, [])
    _report_cycles(decls, links, children, sink)
    root = root_id(draft)
    if root is None:
        return
    if root not in children:
        if root not in known_ids:
            sink.error(
                ("root",),
                IssueCode.UNKNOWN_NODE,
                f"root {root!r} is not a node",
                did_you_mean(root, known_ids, "name the KPI node"),
            )
        return
    if sink.has_errors:
        # With errors in formulas or nodes the links are incomplete: "unreachable" would be noise.
        return
    reachable = set(_reachable(children, root))
    for decl in decls:
        if decl.id not in reachable and decl.container is None:
            sink.warning(
                (*decl.path, "id"),
                IssueCode.UNREACHABLE_NODE,
                f"node {decl.id!r} is not under the root {root!r}",
                "use it in a formula under the root, or remove it",
            )


def _reachable(children: Mapping[str, list[str]], root: str) -> Iterator[str]:
    seen = {root}
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        for child in children.get(node, ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)


def _report_cycles(
    decls: list[NodeDecl], links: list[Edge], children: Mapping[str, list[str]], sink: IssueSink
) -> None:
    """Every cycle (up to a limit), each once, at the link that closes it."""
    try:
        graphlib.TopologicalSorter(children).prepare()
        return
    except graphlib.CycleError:
        pass
    import networkx as nx  # graphlib names one cycle; networkx lists them all

    graph = build_graph(decls, links)
    declared = {decl.id: decl for decl in decls}
    for count, cycle in enumerate(nx.simple_cycles(graph)):
        if count >= MAX_CYCLES_REPORTED:
            break
        start = min(
            cycle,
            key=lambda node: (
                sink.doc.value_position(declared[node].path) if node in declared else sink.doc.value_position(())
            ),
        )
        ordered = cycle[cycle.index(start) :] + cycle[: cycle.index(start)]
        closing = graph.edges[ordered[-1], ordered[0]]["path"]
        chain = " -> ".join([*ordered, ordered[0]])
        sink.error(
            closing,
            IssueCode.CYCLE,
            f"cycle in the tree: {chain}",
            "a node cannot depend on itself; break the loop by removing one of these links",
        )


def check_owners(draft: Draft, decls: list[NodeDecl], owners: Collection[str], sink: IssueSink) -> None:
    """``owners``: every person and team id written in the file, valid entry or not."""
    spec = draft.spec
    if spec.alerting.fallback_receiver is not None:
        _check_ref(("alerting", "fallback_receiver"), spec.alerting.fallback_receiver, owners, None, sink)
    root = root_id(draft)
    for decl in decls:
        block = decl.spec.owners
        o_path = (*decl.path, "owners")
        columns = available_columns(spec, decl.source) if decl.source else None
        if block is not None:
            _check_block(o_path, f"node {decl.id!r}", block, owners, columns, sink)
        segment_blocks = decl.spec.segment_owners if isinstance(decl.spec, NodeSpec) else None
        for label, segment_block in (segment_blocks or {}).items():
            where = f"segment {label!r} of {decl.id!r}"
            _check_block((*decl.path, "segment_owners", label), where, segment_block, owners, None, sink)
        if decl.id == root and (block is None or block.accountable is None):
            # At the key that is missing (positioned at the node while it is absent): an 'owners'
            # that was written but failed validation was reported already, and says no more here.
            sink.error(
                (*decl.path, "owners", "accountable") if block else (*decl.path, "owners"),
                IssueCode.MISSING_ACCOUNTABLE,
                f"root {decl.id!r} has no Accountable owner",
                "add owners: {accountable: <person or team id>}; other nodes inherit it",
                at_key=block is not None,
            )
        if decl.id == root and decl.spec.direction is None:
            sink.error(
                (*decl.path, "direction"),  # a written but invalid direction was reported already
                IssueCode.MISSING_DIRECTION,
                f"root {decl.id!r} has no direction",
                "add direction: higher_is_better or lower_is_better; other nodes inherit it",
            )


def _check_block(
    path: YamlPath,
    what: str,
    block: OwnersSpec,
    owners: Collection[str],
    columns: frozenset[str] | None,
    sink: IssueSink,
) -> None:
    """One RACI block: every reference known, exactly one Accountable when the role is written."""
    for role in ("responsible", "accountable", "consulted", "informed"):
        for index, ref in enumerate(getattr(block, role) or []):
            _check_ref((*path, role, index), ref, owners, columns, sink)
    if block.accountable is not None and len(block.accountable) > 1:
        sink.error(
            (*path, "accountable"),
            IssueCode.DUPLICATE_ACCOUNTABLE,
            f"{what} has {len(block.accountable)} Accountable owners",
            "RACI allows exactly one Accountable: keep one, make the others responsible or consulted",
        )
    if block.accountable is not None and not block.accountable:
        sink.error(
            (*path, "accountable"),
            IssueCode.MISSING_ACCOUNTABLE,
            f"{what} has no Accountable",
            "name exactly one Accountable owner",
        )


def _check_ref(
    path: YamlPath, ref: str, owners: Collection[str], columns: frozenset[str] | None, sink: IssueSink
) -> None:
    if ref.startswith("entity:"):
        column = ref.removeprefix("entity:")
        if columns is None:
            sink.error(
                path,
                IssueCode.ENTITY_OWNER,
                f"{ref!r} cannot be resolved here",
                "entity owners name a column; use them on nodes computed from a source",
            )
        elif column not in columns:
            sink.error(
                path,
                IssueCode.UNKNOWN_COLUMN,
                f"owner {ref!r}: the node's source has no column {column!r}",
                did_you_mean(column, columns, "map the column on the source, or join the source that has it"),
            )
    elif ref not in owners:
        sink.error(
            path,
            IssueCode.UNKNOWN_PERSON,
            f"owner {ref!r} is not a person or team",
            did_you_mean(ref, owners, "add them under 'people:' or 'teams:'"),
        )
