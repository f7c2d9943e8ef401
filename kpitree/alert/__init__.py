"""Alerting: which rules fire on a run's values (:mod:`rules`), and, in later stages, who hears
about it and when (routing, lifecycle, templates). Delivery is :mod:`kpitree.delivery`."""
