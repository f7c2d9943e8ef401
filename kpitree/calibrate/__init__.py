"""Back-tested calibration of engagement scores against outcomes (``kpitree calibrate``).

- :mod:`~kpitree.calibrate.outcomes`: reading the outcome labels, bad rows reported;
- :mod:`~kpitree.calibrate.features`: each contact's decayed signal counts as of a date, in SQL;
- :mod:`~kpitree.calibrate.stats`: AUC, ROC, cut-offs, logistic regression;
- :mod:`~kpitree.calibrate.backtest`: the back-test, the suggestions and their validation;
- :mod:`~kpitree.calibrate.render` and :mod:`~kpitree.calibrate.write`: the report, and ``--write``.
"""
