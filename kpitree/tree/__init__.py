"""The compiled metric tree: validated, resolved, immutable. Everything after the spec stage reads this.

Compared with the YAML it has: every node (split branches, engagement types and signals included)
in one mapping in tree order; children and the primary parent of each node; owners and direction
already inherited; formulas parsed; each split branch's row restriction spelled out.
"""

from __future__ import annotations

import enum
import functools
import graphlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from kpitree.formula import Expr
from kpitree.periods import Calendar
from kpitree.spec.declarations import BranchRestriction
from kpitree.spec.models import (
    AlertingSpec,
    AlertRuleSpec,
    BandSpec,
    CalendarSpec,
    MeasureSpec,
    PersonSpec,
    ScheduleSpec,
    ScoreSpec,
    SignalSpec,
    SourceSpec,
    TargetSpec,
    TeamSpec,
)

__all__ = ["BranchRestriction", "Direction", "MetricTree", "Node", "NodeKind", "Owners", "tree_calendar"]


class NodeKind(enum.StrEnum):
    MEASURE = "measure"  # an aggregate in SQL; split branches are measures restricted to some values
    FORMULA = "formula"  # combines its children's values
    SCORE = "score"  # an engagement score: the population's mean normalised score
    ENGAGEMENT_TYPE = "engagement_type"  # the points one engagement type adds to the score
    SIGNAL = "signal"  # the points one signal type adds


class Direction(enum.StrEnum):
    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


@dataclass(frozen=True)
class Owners:
    """RACI owners after inheritance: person ids, team ids or ``entity:<column>``."""

    responsible: tuple[str, ...] = ()
    accountable: str | None = None
    consulted: tuple[str, ...] = ()
    informed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Node:
    id: str
    title: str
    description: str
    kind: NodeKind
    unit: str
    direction: Direction
    owners: Owners
    children: tuple[str, ...]
    parent: str | None  # the first parent met walking down from the root (a DAG node may have more)
    target: TargetSpec | None = None
    benchmarks: tuple[BandSpec, ...] = ()
    alerts: tuple[AlertRuleSpec, ...] = ()
    per: str | None = None
    display: str = "number"  # or "percent": a fraction shown x100 (presentation only)
    decimals: int | None = None  # fixed decimals when shown, else as kpitree.display decides
    measure: MeasureSpec | None = None  # measures and split branches
    restrictions: tuple[BranchRestriction, ...] = ()  # split branches: from the outermost split in
    split_by: str | None = None  # a measure split into branches by this column
    segment_by: str | None = None  # a ratio whose movement is also told per value of this column
    segment_owners: tuple[tuple[str, Owners], ...] = ()  # segment_by value -> its own owners
    formula: Expr | None = None
    formula_text: str | None = None
    score: ScoreSpec | None = None  # the score node, and (for context) its types and signals
    signal: SignalSpec | None = None  # signal nodes

    def owners_for(self, segment: str | None) -> Owners:
        """The owners of one of its ``segment_by`` values (the region's RVP), else its own."""
        return next((owners for label, owners in self.segment_owners if label == segment), self.owners)


@dataclass(frozen=True)
class MetricTree:
    id: str
    title: str
    description: str
    path: Path
    version: str  # sha256 of the file: identifies the spec a result was computed with
    root: str
    grain: str
    timezone: str
    calendar: CalendarSpec
    schedule: ScheduleSpec | None
    alerting: AlertingSpec
    people: Mapping[str, PersonSpec]
    teams: Mapping[str, TeamSpec]
    sources: Mapping[str, SourceSpec]
    nodes: Mapping[str, Node]  # in tree order (depth first from the root), then unreachable ones
    drill: tuple[str, ...] = ()  # the columns a drill cuts by when not told

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def walk(self, start: str | None = None) -> Iterator[tuple[int, Node]]:
        """Depth-first (depth, node) from ``start`` (the root by default); shared nodes repeat."""

        def visit(node_id: str, depth: int) -> Iterator[tuple[int, Node]]:
            node = self.nodes[node_id]
            yield depth, node
            for child in node.children:
                yield from visit(child, depth + 1)

        return visit(start or self.root, 0)

    @functools.cached_property
    def bottom_up(self) -> tuple[str, ...]:
        """Every node id, each after all of its children: the order formulas are evaluated in.

        graphlib (stdlib) rather than networkx: the compute path runs on every CLI call and
        networkx costs a tenth of a second to import.
        """
        return tuple(graphlib.TopologicalSorter({n.id: n.children for n in self.nodes.values()}).static_order())


def tree_calendar(tree: MetricTree) -> Calendar:
    """The tree's calendar: its time zone, week start and fiscal year, which every period is read in."""
    return Calendar.of(tree.timezone, tree.calendar.week_start, tree.calendar.fiscal_year_start_month)
