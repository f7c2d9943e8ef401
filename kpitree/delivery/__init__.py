"""Delivering notifications: the outbox in the state database, the channels, and the worker.

The alerting stage writes messages into the outbox in the same transaction as the run's results;
the worker (:mod:`kpitree.delivery.worker`) claims due rows, sends them through a channel
(:mod:`kpitree.delivery.channels`) and records the outcome. A channel says whether a failure is
worth retrying (:class:`~kpitree.delivery.channels.DeliveryFailure`), as Alertmanager's notifiers do.
"""
