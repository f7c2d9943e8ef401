"""Where the shipped trees and templates are, and how a tree named on the command line is found."""

from __future__ import annotations

import os
from pathlib import Path

from kpitree.errors import TreeNotFound

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """A directory shipped with kpitree: trees, templates or alembic."""
    # A wheel carries them inside the package; an editable install or a checkout has them at the top.
    bundled = _PACKAGE / "_bundled" / name
    return bundled if bundled.is_dir() else _PACKAGE.parent / name


def shipped_trees_dir() -> Path:
    return shipped_dir("trees")


def default_trees_dir() -> Path:
    """``$KPITREE_TREES``, else ./trees when it exists, else the trees shipped with kpitree."""
    env = os.environ.get("KPITREE_TREES")
    if env:
        return Path(env)
    local = Path("trees")
    return local if local.is_dir() else shipped_trees_dir()


def resolve_tree(name: str, trees_dir: Path | None = None) -> Path:
    """A tree given as a file path, or as an id looked up in the trees directory."""
    as_path = Path(name)
    if as_path.is_file():
        return as_path
    directory = trees_dir or default_trees_dir()
    for suffix in (".yaml", ".yml"):
        candidate = directory / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in directory.glob("*.y*ml")) if directory.is_dir() else []
    hint = f"trees in {directory}: {', '.join(known)}" if known else f"no trees in {directory}"
    raise TreeNotFound(f"no tree {name!r}: not a file, and not an id in {directory}", hint=hint)
