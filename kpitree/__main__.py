"""``python -m kpitree``: the same as the ``kpitree`` command."""

from kpitree.cli.main import main

main()
