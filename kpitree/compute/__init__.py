"""The compute stage: a compiled tree and a warehouse in, node values per period out.

Measures and scores compile to SQL that runs in the warehouse (one statement per source and period
batch); formulas are evaluated on the results. Nothing here writes anywhere: storing results is
the state database's job, presenting them the renderers'.
"""

from kpitree.compute.batch import PeriodWindow, SegmentFilter
from kpitree.compute.engine import PeriodValues, TreeComputation, compute_periods
from kpitree.compute.values import NodeValue

__all__ = ["NodeValue", "PeriodValues", "PeriodWindow", "SegmentFilter", "TreeComputation", "compute_periods"]
