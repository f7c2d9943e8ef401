"""The ``kpitree`` command line."""
