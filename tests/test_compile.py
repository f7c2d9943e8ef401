"""Compiling a valid tree: inheritance, tree order, branch restrictions."""

from __future__ import annotations

from pathlib import Path

from kpitree.tree import Direction, NodeKind
from kpitree.tree_files import load_tree_or_raise

TREE = """\
tree: small
title: Small
people:
  - {id: ann, name: Ann}
  - {id: bob, name: Bob}
  - {id: cy, name: Cy}
sources:
  activities: {table: activities, contract: activities}
nodes:
  - id: cost_per_touch
    direction: lower_is_better
    formula: cost / touches
    owners: {accountable: ann, responsible: [bob], informed: [cy]}
  - id: cost
    formula: touches * 2
    owners: {responsible: [cy]}
  - id: touches
    title: Touches logged
    unit: touches
    measure: {source: activities, agg: count}
    split:
      by: channel
      branches:
        - {id: calls, values: [call]}
        - {id: emails, values: [email], owners: {accountable: bob}}
        - {id: rest, other: true}
"""


def _tree(tmp_path: Path):  # type: ignore[no-untyped-def]
    path = tmp_path / "small.yaml"
    path.write_text(TREE)
    return load_tree_or_raise(path)


def test_owners_inherit_role_by_role_from_the_shallowest_parent(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    # touches has two parents (the root and cost): it inherits from the root, the shallower one.
    assert tree.node("touches").parent == "cost_per_touch"
    assert tree.node("touches").owners.responsible == ("bob",)
    assert tree.node("cost").owners.responsible == ("cy",)
    assert tree.node("cost").owners.accountable == "ann"
    assert tree.node("emails").owners.accountable == "bob"
    assert tree.node("emails").owners.informed == ("cy",)


def test_direction_and_unit_inherit(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert tree.node("calls").direction is Direction.LOWER_IS_BETTER
    assert tree.node("calls").unit == "touches"
    assert tree.node("cost").unit == ""


def test_nodes_are_in_tree_order_with_kinds(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert list(tree.nodes) == ["cost_per_touch", "cost", "touches", "calls", "emails", "rest"]
    assert [tree.node(n).kind for n in ("cost_per_touch", "touches", "rest")] == [
        NodeKind.FORMULA,
        NodeKind.MEASURE,
        NodeKind.MEASURE,
    ]
    assert [(depth, node.id) for depth, node in tree.walk()] == [
        (0, "cost_per_touch"),
        (1, "cost"),
        (2, "touches"),
        (3, "calls"),
        (3, "emails"),
        (3, "rest"),
        (1, "touches"),
        (2, "calls"),
        (2, "emails"),
        (2, "rest"),
    ]


def test_branches_carry_their_restriction_and_the_measure(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    rest = tree.node("rest")
    assert rest.measure == tree.node("touches").measure
    (restriction,) = rest.restrictions
    assert restriction.is_other
    assert restriction.excluded == ("call", "email")
    assert tree.node("calls").restrictions[0].values == ("call",)


def test_titles_default_from_ids_and_version_hashes_the_file(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert tree.node("cost_per_touch").title == "Cost per touch"
    assert tree.node("touches").title == "Touches logged"
    assert len(tree.version) == 64
    assert set(tree.node("cost_per_touch").children) == {"cost", "touches"}
    order = tree.bottom_up
    assert sorted(order) == sorted(tree.nodes)
    assert all(order.index(child) < order.index(n.id) for n in tree.nodes.values() for child in n.children)
