"""``kpitree demo``: the main job end to end on the embedded default.

Until the compute stage lands it validates the shipped trees and shows them.
"""

from __future__ import annotations

import click
from rich.console import Console

from kpitree.errors import TreeInvalid
from kpitree.render.tree_view import render_tree
from kpitree.resources import shipped_trees_dir
from kpitree.spec.loader import load_tree, tree_files


@click.command()
def demo() -> None:
    """Run kpitree on its shipped example trees."""
    console = Console(soft_wrap=False)
    for path in tree_files((shipped_trees_dir(),)):
        result = load_tree(path)
        if result.tree is None:
            raise TreeInvalid(result.issues)
        console.print(render_tree(result.tree))
        console.print()
    console.print("Both seed trees are valid. Computing them on a sample warehouse comes with the compute stage.")
