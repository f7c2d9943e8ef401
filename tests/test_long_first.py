"""The suite's own ordering (tests/long_first.py): each xdist worker's first share starts with long
tests, tests sharing a module fixture stay together, and nothing is lost or run twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from xdist.scheduler.worksteal import WorkStealingScheduling

from tests.long_first import arrange, share_sizes


class RecordingNode:
    """Stands in for xdist's WorkerController: records the test indices it is sent."""

    shutting_down = False

    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)
        self.sent: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:  # worksteal's word to a worker with too few tests to steal from
        self.shutting_down = True


@pytest.mark.parametrize(("count", "workers"), [(772, 4), (10, 4), (101, 3), (9, 8), (1000, 6)])
def test_share_sizes_are_what_worksteal_sends_first(count: int, workers: int) -> None:
    config = SimpleNamespace(getvalue=lambda name: [f"{workers}*popen"] if name == "tx" else None)
    scheduler = WorkStealingScheduling(config)
    nodes = [RecordingNode(f"gw{index}") for index in range(workers)]
    for node in nodes:
        scheduler.add_node(node)
    for node in nodes:
        scheduler.add_node_collection(node, [f"test_{index}" for index in range(count)])
    scheduler.schedule()
    assert [len(node.sent) for node in nodes] == share_sizes(count, workers)
    assert [index for node in nodes for index in node.sent] == list(range(count))  # contiguous, in order


@dataclass
class FakeItem:
    nodeid: str
    markers: tuple[str, ...] = ()
    module_fixture: bool = False
    _fixtureinfo: Any = field(init=False)

    def __post_init__(self) -> None:
        scope = "module" if self.module_fixture else "function"
        self._fixtureinfo = SimpleNamespace(name2fixturedefs={"f": (SimpleNamespace(scope=scope),)})

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.markers else None


def test_each_share_starts_with_its_long_tests_and_module_fixtures_stay_together() -> None:
    items = [FakeItem(f"tests/test_a.py::quick_{index}") for index in range(40)]
    items[5:5] = [FakeItem(f"tests/test_procs.py::wait_{index}", ("long",)) for index in range(5)]
    spark = [FakeItem(f"tests/test_spark.py::spark_{index}", ("spark",), module_fixture=True) for index in range(3)]
    items[30:30] = spark
    arranged = arrange(items, 4)  # type: ignore[arg-type]
    assert sorted(item.nodeid for item in arranged) == sorted(item.nodeid for item in items)
    shares, start = [], 0
    for size in share_sizes(len(items), 4):
        shares.append([item.nodeid for item in arranged[start : start + size]])
        start += size
    assert shares[0][:3] == [f"tests/test_spark.py::spark_{index}" for index in range(3)]
    assert all(share[0].startswith(("tests/test_procs.py", "tests/test_spark.py")) for share in shares)
    long_per_share = [sum(not nodeid.split("::")[1].startswith("quick") for nodeid in share) for share in shares]
    assert long_per_share == [3, 2, 2, 1]
    assert [nodeid for share in shares for nodeid in share if "quick" in nodeid] == [
        item.nodeid for item in items if "quick" in item.nodeid
    ]  # the rest keep their order


def test_nothing_moves_without_workers_or_when_most_tests_are_long() -> None:
    items = [FakeItem(f"t::{index}", ("long",) if index % 2 else ()) for index in range(9)]
    assert _ids(arrange(items, 1)) == _ids(items)  # type: ignore[arg-type]
    mostly_long = [FakeItem(f"t::{index}", ("long",) if index else ()) for index in range(4)]
    assert _ids(arrange(mostly_long, 4)) == _ids(mostly_long)  # type: ignore[arg-type]
    assert _ids(arrange(items, 4)) != _ids(items)  # type: ignore[arg-type]


def _ids(items: list[Any]) -> list[str]:
    return [str(item.nodeid) for item in items]
