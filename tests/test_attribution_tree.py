"""Attribution over whole trees: random trees with hypothesis, and the shipped activity tree."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpitree.analysis.attribution import attribute_tree
from kpitree.analysis.node import Method
from kpitree.compute.engine import evaluate_formulas
from kpitree.compute.values import NodeValue
from kpitree.tree import MetricTree, NodeKind
from kpitree.tree_files import load_tree_or_raise
from tests.conftest import TREES

# Formula shapes over two or three children; a random tree nests them.
SHAPES = {
    2: ["{0} / {1}", "{0} - {1}", "{0} * {1}", "{0} + {1}", "max({0}, {1}) - min({0}, {1})"],
    3: ["{0} * {1} * {2}", "({0} + {1}) / {2}", "{0} * {1} - {2}", "{0} + {1} + {2}", "{0} / {1} * {2}"],
}


@st.composite
def random_trees(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A tree YAML of formula nodes over count measures (the leaves), and the leaf ids."""
    counter = iter(range(1000))
    leaves: list[str] = []
    lines: list[str] = []

    def node(depth: int) -> str:
        node_id = f"n{next(counter)}"
        if depth >= 3 or (draw(st.booleans()) and depth > 0):
            leaves.append(node_id)
            lines.append(f"  - {{id: {node_id}, measure: {{source: activities, agg: count}}}}")
            return node_id
        arity = draw(st.sampled_from([2, 3]))
        shape = draw(st.sampled_from(SHAPES[arity]))
        lines.append(f"  - {{id: {node_id}, formula: 'PLACEHOLDER_{node_id}'}}")
        children = [node(depth + 1) for _ in range(arity)]
        index = lines.index(f"  - {{id: {node_id}, formula: 'PLACEHOLDER_{node_id}'}}")
        lines[index] = f"  - {{id: {node_id}, formula: '{shape.format(*children)}'}}"
        return node_id

    node(0)
    header = [
        "tree: random",
        "title: Random",
        "people: [{id: ann, name: Ann}]",
        "sources: {activities: {table: activities, contract: activities}}",
        "nodes:",
    ]
    lines[0] = lines[0].replace(
        "}", ", direction: higher_is_better, owners: {accountable: ann, responsible: [ann]}}", 1
    )
    return "\n".join([*header, *lines]) + "\n", leaves


def _values(tree: MetricTree, leaves: dict[str, float]) -> dict[str, float | None]:
    computed = evaluate_formulas(tree, {k: NodeValue(v) for k, v in leaves.items()})
    return {k: v.value for k, v in computed.items()}


@given(random_trees(), st.data())
@settings(max_examples=80, deadline=None)
def test_every_node_sums_and_the_leaves_sum_to_the_kpi(spec: tuple[str, list[str]], data: st.DataObject) -> None:
    text, leaf_ids = spec
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "random.yaml"
        path.write_text(text)
        tree = load_tree_or_raise(path)
    counts = st.sampled_from([0.0, 1.0, 2.0, 5.0, 7.5, 40.0, 1000.0, 0.25, -3.0])
    before = _values(tree, {leaf: data.draw(counts) for leaf in leaf_ids})
    after = _values(tree, {leaf: data.draw(counts) for leaf in leaf_ids})
    result = attribute_tree(tree, before, after)
    for attribution in result.nodes.values():
        delta = attribution.delta
        if delta is None or attribution.reason is not None or not attribution.contributions:
            continue
        parts = [c.value for c in attribution.contributions]
        scale = max([abs(delta), *map(abs, parts), 1.0])
        assert abs(math.fsum(parts) + attribution.residual - delta) <= 1e-9 * scale
        assert attribution.residual == 0.0 or abs(attribution.residual) <= 1e-9 * scale  # formulas are exact
    swapped = attribute_tree(tree, after, before)
    for node_id, attribution in result.nodes.items():
        for forward, backward in zip(attribution.contributions, swapped.nodes[node_id].contributions, strict=True):
            scale = max(abs(forward.value), 1.0)
            assert abs(forward.value + backward.value) <= 1e-9 * scale
    root = result.root
    if root.delta is not None and all(a.reason is None for a in result.nodes.values()):
        leaf_total = math.fsum(result.nodes[leaf].to_root or 0.0 for leaf in set(leaf_ids))
        gross = max([abs(root.delta), *(abs(a.to_root or 0.0) for a in result.nodes.values()), 1.0])
        assert abs(leaf_total - root.delta) <= 1e-9 * gross


@pytest.fixture(scope="module")
def activity_tree() -> MetricTree:
    return load_tree_or_raise(TREES / "activity_volume_per_contact.yaml")


def _activity_values(tree: MetricTree, reps: float, hours: float, touches: dict[str, float], contacts: float):  # type: ignore[no-untyped-def]
    measured = {
        "reps_active": reps,
        "selling_hours": hours,
        "active_contacts": contacts,
        **touches,
        "email_touches": touches["manual_email_touches"] + touches["automated_email_touches"],
    }
    measured["logged_touches"] = (
        measured["email_touches"] + touches["call_touches"] + touches["meeting_touches"] + touches["other_touches"]
    )
    return _values(tree, measured)


def test_the_activity_tree_names_the_calls_branch_and_its_owners(activity_tree: MetricTree) -> None:
    base = {"manual_email_touches": 800.0, "automated_email_touches": 640.0, "call_touches": 480.0,
            "meeting_touches": 480.0, "other_touches": 100.0}  # fmt: skip
    before = _activity_values(activity_tree, 10, 1200, base, 480)
    after = _activity_values(activity_tree, 10, 1200, {**base, "call_touches": 264.0, "meeting_touches": 500.0}, 480)
    result = attribute_tree(activity_tree, before, after)
    assert result.largest_gap_path[-1] == "call_touches"
    assert result.largest_gap_path[0] == "activity_volume_per_contact"
    # meetings rose: listed apart on the path, not hidden
    assert any(o.child == "meeting_touches" and o.to_root > 0 for o in result.offsetting)
    owners = result.gap_owners
    assert owners.responsible
    assert owners.accountable
    assert owners == activity_tree.node("call_touches").owners
    # unchanged branches get exactly zero, and the qualifying product was split by LMDI
    logged = result.nodes["logged_touches"]
    assert {c.child: c.value for c in logged.contributions}["other_touches"] == 0.0
    assert result.nodes["qualifying_activities"].method is Method.LMDI
    assert result.nodes["activity_volume_per_contact"].method is Method.SHAPLEY
    leaves = [n for n in activity_tree.nodes.values() if not n.children]
    assert math.fsum(result.nodes[n.id].to_root or 0.0 for n in leaves) == pytest.approx(result.root.delta, rel=1e-9)


def test_a_kpi_that_barely_moved_gets_no_percentage_shares(activity_tree: MetricTree) -> None:
    base = {"manual_email_touches": 800.0, "automated_email_touches": 640.0, "call_touches": 480.0,
            "meeting_touches": 480.0, "other_touches": 100.0}  # fmt: skip
    before = _activity_values(activity_tree, 10, 1200, base, 480)
    offset = {**base, "call_touches": 380.0, "meeting_touches": 581.0}  # -100 and +101: a net +1
    result = attribute_tree(activity_tree, before, _activity_values(activity_tree, 10, 1200, offset, 480))
    logged = result.nodes["logged_touches"]
    assert logged.barely_moved
    assert all(c.share is None for c in logged.contributions)
    assert {c.child: c.value for c in logged.contributions}["call_touches"] == -100.0


def test_a_split_over_an_overlapping_distinct_count_shows_its_residual(activity_tree: MetricTree) -> None:
    node_kinds = {n.kind for n in activity_tree.nodes.values()}
    assert NodeKind.MEASURE in node_kinds
    base = {"manual_email_touches": 800.0, "automated_email_touches": 640.0, "call_touches": 480.0,
            "meeting_touches": 480.0, "other_touches": 100.0}  # fmt: skip
    before = _activity_values(activity_tree, 10, 1200, base, 480)
    after = dict(before)
    after["logged_touches"] = (before["logged_touches"] or 0) + 50  # the branches do not add up to this
    after["call_touches"] = (before["call_touches"] or 0) + 20
    logged = attribute_tree(activity_tree, before, after).nodes["logged_touches"]
    assert logged.residual == 30.0
