"""Trees as code: the YAML edge (models), the validator that collects every issue, and the loader
that turns a valid file into a compiled :class:`kpitree.tree.MetricTree`."""
