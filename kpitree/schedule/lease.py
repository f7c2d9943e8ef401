"""One active scheduler per state database: a lease row, taken and renewed by compare-and-set.

Any number of ``kpitree schedule`` processes may point at one state database; the one holding the
lease runs the jobs, the others wait as standbys. The holder renews the lease well within its
length; a standby takes it over once it has expired, i.e. once its holder stopped renewing (killed,
hung, or cut off from the database). The take-over is a single conditional UPDATE (holder is me, or
the lease expired), which SQLite serialises and PostgreSQL re-checks after the row lock, so two
standbys never both win. Times are the schedulers' clocks: keep the hosts' clocks in sync (NTP);
the lease length must exceed the worst skew.

A scheduler that lost its lease while running a job cannot commit it either: the run ledger's token
(:mod:`kpitree.state.runs`) lets only the newest attempt finish a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, or_, select, update

from kpitree.state.models import SchedulerLease
from kpitree.state.runs import holder_name

__all__ = ["Acquisition", "Lease", "LeaseView", "current_lease", "holder_name"]

LEASE_NAME = "scheduler"


@dataclass(frozen=True)
class LeaseView:
    holder: str
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    released_at: datetime | None = None  # when its holder stopped cleanly; None while held, or if it died


@dataclass(frozen=True)
class Acquisition:
    acquired: bool
    before: LeaseView | None  # the lease as found: None when nobody held it yet


class Lease:
    def __init__(self, engine: Engine, holder: str, length: timedelta, name: str = LEASE_NAME) -> None:
        self.engine = engine
        self.holder = holder
        self.length = length
        self.name = name

    def try_acquire(self, now: datetime) -> Acquisition:
        """Take the lease if it is free, expired, or already ours; else say who holds it."""
        before = current_lease(self.engine, self.name)
        with Session(self.engine) as session:
            if before is None:
                session.add(
                    SchedulerLease(
                        name=self.name,
                        holder=self.holder,
                        acquired_at=now,
                        renewed_at=now,
                        expires_at=now + self.length,
                    )
                )
                try:
                    session.commit()
                except IntegrityError:  # another scheduler inserted it first
                    session.rollback()
                    return Acquisition(False, current_lease(self.engine, self.name))
                return Acquisition(True, None)
            acquired_at = before.acquired_at if before.holder == self.holder else now
            taken = session.execute(
                update(SchedulerLease)
                .where(
                    col(SchedulerLease.name) == self.name,
                    or_(col(SchedulerLease.holder) == self.holder, col(SchedulerLease.expires_at) <= now),
                )
                .values(
                    holder=self.holder,
                    acquired_at=acquired_at,
                    renewed_at=now,
                    expires_at=now + self.length,
                    released_at=None,
                )
                .returning(col(SchedulerLease.name))
            ).first()
            session.commit()
        if taken is None:
            return Acquisition(False, current_lease(self.engine, self.name))
        return Acquisition(True, before)

    def renew(self, now: datetime) -> bool:
        """Extend our lease; False when it is no longer ours (a standby took it over)."""
        with Session(self.engine) as session:
            renewed = session.execute(
                update(SchedulerLease)
                .where(col(SchedulerLease.name) == self.name, col(SchedulerLease.holder) == self.holder)
                .values(renewed_at=now, expires_at=now + self.length)
                .returning(col(SchedulerLease.name))
            ).first()
            session.commit()
        return renewed is not None

    def release(self, now: datetime) -> None:
        """Give the lease up at a clean stop: it expires now, so a standby takes over at once, and
        the row stays to say which scheduler stopped, and when."""
        with Session(self.engine) as session:
            session.execute(
                update(SchedulerLease)
                .where(col(SchedulerLease.name) == self.name, col(SchedulerLease.holder) == self.holder)
                .values(expires_at=now, released_at=now)
            )
            session.commit()


def current_lease(engine: Engine, name: str = LEASE_NAME) -> LeaseView | None:
    with Session(engine) as session:
        row = session.exec(select(SchedulerLease).where(col(SchedulerLease.name) == name)).first()
        if row is None:
            return None
        return LeaseView(row.holder, row.acquired_at, row.renewed_at, row.expires_at, row.released_at)
