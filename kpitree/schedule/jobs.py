"""The functions APScheduler's job store names (``kpitree.schedule.jobs:fire_tree``).

Jobs are pickled into the state database with a textual reference to these functions and the
tree's id, nothing of the process that added them, so that any scheduler can load them. Each call
goes to the scheduler active in this process.
"""

from __future__ import annotations

from typing import Protocol

from kpitree.errors import InternalError

FIRE_TREE = "kpitree.schedule.jobs:fire_tree"
DELIVER_OUTBOX = "kpitree.schedule.jobs:deliver_outbox"


class JobHost(Protocol):
    def fire(self, tree_id: str) -> None: ...

    def deliver(self) -> None: ...


_host: JobHost | None = None


def activate(host: JobHost) -> None:
    global _host
    _host = host


def deactivate() -> None:
    global _host
    _host = None


def _active() -> JobHost:
    if _host is None:
        raise InternalError("a kpitree job ran outside an active scheduler")
    return _host


def fire_tree(tree_id: str) -> None:
    _active().fire(tree_id)


def deliver_outbox() -> None:
    _active().deliver()
