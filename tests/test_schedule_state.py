"""The scheduler's lease and the run ledger, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from kpitree.errors import RunSuperseded
from kpitree.schedule.lease import Lease, current_lease
from kpitree.state.runs import (
    FAILED,
    MAX_ATTEMPTS,
    SUCCEEDED,
    RunRequest,
    RunTally,
    begin_run,
    fail_run,
    finish_run,
    last_scheduled_fire,
    list_runs,
    unfinished_runs,
)
from kpitree.state.store import StateStore

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_one_holder_at_a_time_and_a_standby_takes_over_only_after_expiry(store: StateStore) -> None:
    first = Lease(store.engine, "a", MINUTE)
    second = Lease(store.engine, "b", MINUTE)
    assert first.try_acquire(T0).acquired
    refused = second.try_acquire(T0 + timedelta(seconds=30))
    assert not refused.acquired
    assert refused.before is not None
    assert refused.before.holder == "a"
    assert first.renew(T0 + timedelta(seconds=45))  # now good until T0 + 1m45s
    assert not second.try_acquire(T0 + timedelta(seconds=100)).acquired
    taken = second.try_acquire(T0 + timedelta(seconds=106))
    assert taken.acquired
    assert taken.before is not None
    assert (taken.before.holder, taken.before.expires_at) == ("a", T0 + timedelta(seconds=105))
    assert not first.renew(T0 + timedelta(seconds=107))  # a holder that was away learns it lost
    assert not first.try_acquire(T0 + timedelta(seconds=107)).acquired
    lease = current_lease(store.engine)
    assert lease is not None
    assert (lease.holder, lease.acquired_at) == ("b", T0 + timedelta(seconds=106))


def test_a_clean_stop_releases_the_lease_for_the_standby_at_once(store: StateStore) -> None:
    first, second = Lease(store.engine, "a", MINUTE), Lease(store.engine, "b", MINUTE)
    assert first.try_acquire(T0).acquired
    second.release(T0)  # not its lease: nothing happens
    assert not second.try_acquire(T0).acquired
    first.release(T0 + timedelta(seconds=1))
    released = current_lease(store.engine)
    assert released is not None
    assert (released.holder, released.released_at) == ("a", T0 + timedelta(seconds=1))  # status can say so
    assert second.try_acquire(T0 + timedelta(seconds=1)).acquired
    taken = current_lease(store.engine)
    assert taken is not None
    assert (taken.holder, taken.released_at) == ("b", None)


def request(key: str = "t/2026-W44/all/fire", fire: datetime | None = T0) -> RunRequest:
    return RunRequest(key, "t", "2026-W44", "", "schedule", fire, True)


def test_a_run_that_succeeded_is_never_claimed_again(store: StateStore) -> None:
    ticket = begin_run(store.engine, request(), "a", T0)
    assert ticket is not None
    with Session(store.engine) as session:
        finish_run(session, ticket, RunTally(1, 10, 2, 3), T0 + MINUTE)
        session.commit()
    assert begin_run(store.engine, request(), "b", T0 + 2 * MINUTE) is None
    (row,) = list_runs(store.engine)
    assert (row.status, row.holder, row.nodes, row.events, row.alerts_queued) == (SUCCEEDED, "a", 10, 2, 3)
    assert row.finished_at == T0 + MINUTE


def test_a_run_left_running_is_claimed_anew_and_the_old_attempt_cannot_finish(store: StateStore) -> None:
    old = begin_run(store.engine, request(), "a", T0)
    assert old is not None
    assert [row.run_key for row in unfinished_runs(store.engine, "t")] == [request().run_key]
    new = begin_run(store.engine, request(), "b", T0 + MINUTE)
    assert new is not None
    assert new.attempt == 2
    with Session(store.engine) as session, pytest.raises(RunSuperseded):
        finish_run(session, old, RunTally(1, 10, 0, 0), T0 + 2 * MINUTE)
    fail_run(store.engine, old, "late", T0 + 2 * MINUTE)  # leaves the new attempt's row alone
    (row,) = list_runs(store.engine)
    assert (row.status, row.holder, row.attempt, row.error) == ("running", "b", 2, None)


def test_failed_runs_are_retried_a_few_times_then_left_to_a_person(store: StateStore) -> None:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        ticket = begin_run(store.engine, request(), "a", T0 + attempt * MINUTE)
        assert ticket is not None
        assert ticket.attempt == attempt
        fail_run(store.engine, ticket, "WarehouseError: gone", T0 + attempt * MINUTE)
        expected = [request().run_key] if attempt < MAX_ATTEMPTS else []
        assert [row.run_key for row in unfinished_runs(store.engine, "t")] == expected
    (row,) = list_runs(store.engine)
    assert (row.status, row.error) == (FAILED, "WarehouseError: gone")


def test_the_last_fire_taken_up_is_the_latest_scheduled_one(store: StateStore) -> None:
    assert last_scheduled_fire(store.engine, "t") is None
    for key, fire in (("k1", T0), ("k2", T0 + 7 * 24 * 60 * MINUTE), ("manual", None)):
        begin_run(store.engine, request(key, fire), "a", T0)
    assert last_scheduled_fire(store.engine, "t") == T0 + 7 * 24 * 60 * MINUTE
