"""Verified impact: did an intervention on a node move it? (``kpitree impact``)

- :mod:`~kpitree.impact.estimate`: the statistics, on per-period values of the treated and the
  control segment: difference-in-differences with a bootstrap interval, a pre-period placebo, and
  the verdict. Pure functions, so they are tested on synthetic data of known effect;
- :mod:`~kpitree.impact.registry`: pre-registered interventions, and every later edit;
- :mod:`~kpitree.impact.evaluate`: the numbers from the warehouse, the tree path, the record;
- :mod:`~kpitree.impact.notify` and :mod:`~kpitree.impact.loop`: telling the owner, once per verdict;
- :mod:`~kpitree.impact.describe`: the words, for the terminal and the variance report.
"""
