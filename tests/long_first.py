"""Start the long tests first on every xdist worker.

The tests marked ``long`` or ``spark`` spend most of their time waiting: on real processes, leases
and clocks, or on the Spark server. Queued where they were collected, one of them started last and
ran alone while the other workers had finished (a 20-second tail on a 3-minute suite, the cores
idle). Started first, their waits overlap the other workers' CPU work instead.

pytest-xdist's ``worksteal`` scheduler hands each worker a contiguous share of the collection and
later steals from the end of the longest queue. So the collection is rearranged into one share per
worker, of the sizes that scheduler cuts, each beginning with its part of the long tests. Every
worker computes the same order from the same collection, as xdist requires. Under another
scheduler, or without xdist, the order stays valid, only not arranged for it.
"""

from __future__ import annotations

from itertools import islice

import pytest


def share_sizes(count: int, workers: int) -> list[int]:
    """The sizes of the contiguous shares worksteal sends first: ``pending // nodes_remaining``."""
    sizes = []
    remaining = count
    for index in range(workers):
        size = remaining // (workers - index)
        sizes.append(size)
        remaining -= size
    return sizes


def is_long(item: pytest.Item) -> bool:
    """Marked ``long`` (real processes waiting on each other) or ``spark`` (waiting on the server)."""
    return any(item.get_closest_marker(name) is not None for name in ("long", "spark"))


def _unit_key(item: pytest.Item) -> str:
    """Tests sharing a module-scoped fixture stay together: split, each worker would set it up."""
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.values() if info is not None else ()
    if any(d.scope == "module" for defs in definitions for d in defs):
        return item.nodeid.split("::", 1)[0]
    return item.nodeid


def arrange(items: list[pytest.Item], workers: int) -> list[pytest.Item]:
    """``items`` in the order that starts each worker's share with its part of the long tests."""
    long_items = [item for item in items if is_long(item)]
    if workers < 2 or not long_items or len(long_items) * 2 > len(items):
        return items
    units: dict[str, list[pytest.Item]] = {}
    for item in long_items:
        units.setdefault(_unit_key(item), []).append(item)
    sizes = share_sizes(len(items), workers)
    shares: list[list[pytest.Item]] = [[] for _ in range(workers)]
    # Largest unit first, each to the share holding the fewest long tests so far (test counts
    # stand in for durations, which are not known here).
    for unit in sorted(units.values(), key=len, reverse=True):
        min(shares, key=len).extend(unit)
    rest = iter(item for item in items if not is_long(item))
    arranged: list[pytest.Item] = []
    for share, size in zip(shares, sizes, strict=True):
        arranged.extend(share)
        arranged.extend(islice(rest, max(0, size - len(share))))
    arranged.extend(rest)
    return arranged
