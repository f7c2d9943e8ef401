"""Geometry for the report's pictures: the tree laid out left to right, and trend sparklines.

Only numbers come out of here; the HTML template draws them as inline SVG, so the page needs no
script and no network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kpitree.tree import MetricTree

BOX_WIDTH = 210
BOX_HEIGHT = 58
COLUMN_GAP = 60
ROW_GAP = 14


@dataclass(frozen=True)
class Box:
    node_id: str
    x: float
    y: float


@dataclass(frozen=True)
class Link:
    parent: str
    child: str
    path: str  # SVG path data: a horizontal S-curve from the parent's right edge to the child's left


@dataclass(frozen=True)
class TreePicture:
    boxes: tuple[Box, ...]
    links: tuple[Link, ...]
    width: float
    height: float


def lay_out(tree: MetricTree) -> TreePicture:
    """Depth sets the column; leaves take the next row; a parent sits at its children's middle.

    A node with several parents (the tree is a DAG) is drawn once, under its first parent, and
    linked from the others.
    """
    placed: dict[str, tuple[int, float]] = {}
    next_row = 0.0

    def place(node_id: str, depth: int) -> float:
        nonlocal next_row
        if node_id in placed:
            return placed[node_id][1]
        placed[node_id] = (depth, -1.0)  # claimed: a child reached twice below is not placed again
        rows = [place(child, depth + 1) for child in tree.node(node_id).children if child not in placed]
        if rows:
            row = (min(rows) + max(rows)) / 2
        else:
            row, next_row = next_row, next_row + 1
        placed[node_id] = (depth, row)
        return row

    place(tree.root, 0)
    for node_id in tree.nodes:  # nodes outside the root's tree still get a place
        place(node_id, 0)
    boxes = tuple(
        Box(node_id, depth * (BOX_WIDTH + COLUMN_GAP) + 10, row * (BOX_HEIGHT + ROW_GAP) + 10)
        for node_id, (depth, row) in placed.items()
    )
    at = {box.node_id: box for box in boxes}
    links = []
    for node in tree.nodes.values():
        for child in node.children:
            start, end = at[node.id], at[child]
            x1, y1 = start.x + BOX_WIDTH, start.y + BOX_HEIGHT / 2
            x2, y2 = end.x, end.y + BOX_HEIGHT / 2
            middle = (x1 + x2) / 2
            links.append(
                Link(
                    node.id, child, f"M{x1:.1f},{y1:.1f} C{middle:.1f},{y1:.1f} {middle:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
                )
            )
    width = max(box.x for box in boxes) + BOX_WIDTH + 10
    height = max(box.y for box in boxes) + BOX_HEIGHT + 10
    return TreePicture(boxes, tuple(links), width, height)


SPARK_WIDTH = 120


def sparkline(values: Sequence[float | None], width: float = SPARK_WIDTH, height: float = 24) -> tuple[str, ...]:
    """SVG polyline point lists; a period without a value breaks the line."""
    known = [v for v in values if v is not None]
    if not known:
        return ()
    low, high = min(known), max(known)
    span = high - low or 1.0
    step = width / max(len(values) - 1, 1)
    segments: list[list[str]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            segments.append([])
            continue
        y = height - 2 - (value - low) / span * (height - 4)
        segments[-1].append(f"{index * step:.1f},{y:.1f}")
    return tuple(" ".join(points) for points in segments if points)


def contribution_colour(to_root: float | None, largest: float, bad_is_negative: bool) -> str:
    """Red for a contribution that hurt the KPI, green for one that helped, paler when smaller."""
    if to_root is None or largest == 0 or to_root == 0:
        return "#f4f4f4"
    strength = min(abs(to_root) / largest, 1.0)
    bad = (to_root < 0) == bad_is_negative
    base = (215, 48, 39) if bad else (26, 152, 80)
    mixed = [round(255 - (255 - channel) * (0.15 + 0.85 * strength)) for channel in base]
    return "#{:02x}{:02x}{:02x}".format(*mixed)
