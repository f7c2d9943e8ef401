"""Verified impact: did an intervention on a node move it? (issue 7, in progress)

- :mod:`~kpitree.impact.estimate`: the statistics, on per-period values of the treated and the
  control segment: difference-in-differences with a bootstrap interval, a pre-period placebo, and
  the verdict. Pure functions, so they are tested on synthetic data of known effect.
"""
