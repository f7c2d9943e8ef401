"""Scheduled runs: each tree's pipeline on its cron, with catch-up and one active scheduler.

Along the way, in the order a fire goes through them:

- :mod:`~kpitree.schedule.triggers`: when a tree's cron fires (DST-guarded) and which period a
  fire computes;
- :mod:`~kpitree.schedule.plan`: which runs are due, after a fire or a downtime (catch-up);
- :mod:`~kpitree.schedule.lease`: the lease that makes one scheduler the active one;
- :mod:`~kpitree.schedule.runner`: claims and runs the due runs through the pipeline;
- :mod:`~kpitree.schedule.service`: the process, APScheduler, signals, standby and reload;
- :mod:`~kpitree.schedule.health`: what ``kpitree status`` and the health file show.
"""
