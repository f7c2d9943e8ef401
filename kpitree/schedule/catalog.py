"""The trees a scheduler runs: every tree file in the trees directory that has a ``schedule``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kpitree.crontab import CrontabTrigger
from kpitree.errors import InternalError
from kpitree.schedule.health import TREE_JOB_PREFIX
from kpitree.schedule.logs import log_event
from kpitree.schedule.triggers import tree_trigger
from kpitree.tree import MetricTree
from kpitree.tree_files import LoadResult, load_tree, tree_files

Fingerprint = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class ScheduledTree:
    tree: MetricTree
    trigger: CrontabTrigger
    path: Path

    @property
    def job_id(self) -> str:
        return f"{TREE_JOB_PREFIX}{self.tree.id}"

    @property
    def job_name(self) -> str:
        # Compared on reload: a job whose name is unchanged keeps its stored next fire time.
        if self.tree.schedule is None:
            raise InternalError("self.tree.schedule is missing")
        return f"{self.tree.id}: cron '{self.tree.schedule.cron}' in {self.trigger.timezone}"


def scheduled_trees(trees_dir: Path, previous: Mapping[str, ScheduledTree]) -> dict[str, ScheduledTree]:
    """Every valid tree with a ``schedule`` in ``trees_dir``, by id. A file that fails validation
    is logged issue by issue (file, line, hint), and its ``previous`` version stays scheduled: a
    typo saved into a watched directory must not stop a tree's alerts."""
    by_path = {scheduled.path: scheduled for scheduled in previous.values()}
    found: dict[str, ScheduledTree] = {}
    for path in tree_files((trees_dir,)):
        try:
            result = load_tree(path)
        except Exception as exc:  # a bug of ours met by this file: keep the last valid version
            log_event(logging.ERROR, "tree.unreadable", exc_info=True, file=path, error=f"{type(exc).__name__}: {exc}")
            result = LoadResult(str(path), None, ())
        if result.tree is None:
            for issue in result.errors:
                log_event(
                    logging.ERROR,
                    "tree.invalid",
                    file=issue.file,
                    line=issue.line,
                    error=issue.message,
                    hint=issue.hint or "",
                )
            kept = by_path.get(path)
            if kept is not None:
                found[kept.tree.id] = kept
                log_event(
                    logging.WARNING, "tree.kept", tree=kept.tree.id, hint="its last valid version stays scheduled"
                )
            continue
        trigger = tree_trigger(result.tree)
        if trigger is None:
            continue
        if result.tree.id in found:
            log_event(logging.ERROR, "tree.duplicate", tree=result.tree.id, file=path, hint="give each tree its own id")
            continue
        found[result.tree.id] = ScheduledTree(result.tree, trigger, path)
    return found


def trees_fingerprint(trees_dir: Path) -> Fingerprint:
    """What ``--watch`` compares: each tree file's path, modification time and size."""
    paths = tree_files((trees_dir,)) if trees_dir.is_dir() else []
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
