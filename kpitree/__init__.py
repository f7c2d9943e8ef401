"""kpitree: metric trees as code.

The data flows one way: spec (YAML -> validated tree) -> compute (SQL in the warehouse) ->
attribute (exact decomposition of movements) -> alert / report.
"""

__version__ = "0.1.0"
