"""The alert tables: what is firing, the silences, and the audit trail of events.

Reads happen before a run's transaction opens (they only inform decisions); writes happen inside
it, on the caller's session, so results, states, events and outbox rows commit together.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from kpitree.alert.lifecycle import Decision, Remembered, SilenceRule
from kpitree.alert.messages import EarlierDigest
from kpitree.errors import InternalError, UsageError
from kpitree.state.models import AlertEvent, AlertState, OutboxMessage, Silence, table_of


@dataclass(frozen=True)
class AlertMemory:
    remembered: Mapping[str, Remembered]  # fingerprint -> state
    firing_entities: Mapping[tuple[str, str], frozenset[str]]  # (node, rule) -> entities firing


def alert_memory(engine: Engine, tree_id: str) -> AlertMemory:
    with Session(engine) as session:
        return read_alert_memory(session, tree_id)


def read_alert_memory(session: Session, tree_id: str) -> AlertMemory:
    """The tree's alert states as ``session`` sees them (inside a run's locked transaction: as the
    run before it committed them)."""
    remembered: dict[str, Remembered] = {}
    firing: dict[tuple[str, str], set[str]] = defaultdict(set)
    for state in session.exec(select(AlertState).where(col(AlertState.tree_id) == tree_id)):
        remembered[state.fingerprint] = Remembered(state.status, state.signature, state.last_notified_at)
        if state.entity and state.status == "firing":
            firing[(state.node_id, state.rule_id)].add(state.entity)
    return AlertMemory(remembered, {k: frozenset(v) for k, v in firing.items()})


def active_silences(engine: Engine, now: datetime) -> list[SilenceRule]:
    with Session(engine) as session:
        rows = session.exec(
            select(Silence).where(
                col(Silence.expired_at).is_(None), col(Silence.starts_at) <= now, col(Silence.ends_at) > now
            )
        )
        return [_rule(row) for row in rows]


def _rule(row: Silence) -> SilenceRule:
    if row.id is None:
        raise InternalError("row.id is missing")
    return SilenceRule(row.id, row.starts_at, row.ends_at, row.tree_id, row.node_id, row.rule_id, row.entity)


@dataclass(frozen=True)
class AlertKey:
    fingerprint: str
    tree_id: str
    node_id: str
    rule_id: str
    entity: str


BATCH = 2000  # rows per statement: well inside every engine's limit on bound parameters


def save_decisions(
    session: Session, decisions: Sequence[tuple[AlertKey, Decision]], now: datetime, period_label: str
) -> None:
    """Create or update each fingerprint's state after a run's decisions: the states are read in
    one query per batch and written in one statement per batch, however many entities crossed."""
    for start in range(0, len(decisions), BATCH):
        batch = decisions[start : start + BATCH]
        prints = [key.fingerprint for key, _ in batch]
        known = {
            row.fingerprint: row
            for row in session.exec(select(AlertState).where(col(AlertState.fingerprint).in_(prints)))
        }
        inserts: list[dict[str, object]] = []
        updates: list[dict[str, object]] = []
        for key, decision in batch:
            state = known.get(key.fingerprint)
            if state is None:
                if decision.status == "firing":  # a rule that never fired leaves no row
                    inserts.append(_new_state(key, decision, now, period_label))
                continue
            updates.append(_updated_state(state, decision, now, period_label))
        if inserts:
            session.execute(insert(table_of(AlertState)), inserts)
        if updates:
            session.execute(update(AlertState), updates)
    session.expire_all()  # the ORM's copies of updated rows are stale now


def _new_state(key: AlertKey, decision: Decision, now: datetime, period_label: str) -> dict[str, object]:
    return {
        "fingerprint": key.fingerprint,
        "tree_id": key.tree_id,
        "node_id": key.node_id,
        "rule_id": key.rule_id,
        "entity": key.entity,
        "status": "firing",
        "signature": decision.signature,
        "first_fired_at": now,
        "last_fired_at": now,
        "last_notified_at": now if decision.notify else None,
        "resolved_at": None,
        "period_label": period_label,
    }


def _updated_state(state: AlertState, decision: Decision, now: datetime, period_label: str) -> dict[str, object]:
    values: dict[str, object] = {
        "fingerprint": state.fingerprint,
        "status": decision.status,
        "signature": decision.signature,
        "period_label": period_label,
    }
    if decision.status == "firing" and state.status != "firing":
        values.update(first_fired_at=now, resolved_at=None)
    if decision.status == "firing":
        values["last_fired_at"] = now
    elif state.status == "firing":
        values["resolved_at"] = now
    if decision.status == "resolved":
        values["last_notified_at"] = None  # a later firing starts afresh
    elif decision.notify:
        values["last_notified_at"] = now
    return values


@dataclass(frozen=True)
class NewEvent:
    key: AlertKey
    kind: str
    suppressed_by: str | None
    facts: Mapping[str, object]


def record_events(
    session: Session, new: Sequence[NewEvent], run_key: str, period_label: str, now: datetime
) -> list[tuple[int, bool]]:
    """Each event's id, and whether it is new: the same run deciding the same event again (a
    re-run) finds the first one. One query reads the run's earlier events, and one statement per
    batch inserts the rest."""
    earlier: dict[tuple[str, str], int] = {}
    if new:
        found = session.execute(
            select(AlertEvent.fingerprint, AlertEvent.kind, AlertEvent.id).where(
                col(AlertEvent.run_key) == run_key, col(AlertEvent.tree_id) == new[0].key.tree_id
            )
        )
        earlier = {(fingerprint, kind): int(event_id) for fingerprint, kind, event_id in found}
    rows = [
        {
            "fingerprint": e.key.fingerprint,
            "tree_id": e.key.tree_id,
            "node_id": e.key.node_id,
            "rule_id": e.key.rule_id,
            "entity": e.key.entity,
            "kind": e.kind,
            "run_key": run_key,
            "period_label": period_label,
            "created_at": now,
            "suppressed_by": e.suppressed_by,
            "facts": json.dumps(e.facts, default=str),
        }
        for e in new
        if (e.key.fingerprint, e.kind) not in earlier
    ]
    ids: dict[tuple[str, str], int] = {}
    for start in range(0, len(rows), BATCH):
        # Not sort_by_parameter_order: each returned row names its event, and asking SQLite for
        # that order makes SQLAlchemy insert one row per statement (6,213 statements at 10M).
        table = table_of(AlertEvent)  # Core, not the ORM's bulk insert: plain rows, no objects
        statement = insert(table).returning(table.c.fingerprint, table.c.kind, table.c.id)
        for fingerprint, kind, event_id in session.execute(statement, rows[start : start + BATCH]):
            ids[(fingerprint, kind)] = int(event_id)
    return [
        (earlier[(e.key.fingerprint, e.kind)], False)
        if (e.key.fingerprint, e.kind) in earlier
        else (ids[(e.key.fingerprint, e.kind)], True)
        for e in new
    ]


def events(engine: Engine, tree_id: str | None = None) -> list[AlertEvent]:
    with Session(engine) as session:
        query = select(AlertEvent).order_by(col(AlertEvent.id))
        if tree_id:
            query = query.where(col(AlertEvent.tree_id) == tree_id)
        return list(session.exec(query))


def add_silence(engine: Engine, silence: Silence) -> Silence:
    with Session(engine) as session:
        session.add(silence)
        session.commit()
        session.refresh(silence)
        return silence


def list_silences(engine: Engine, now: datetime, include_ended: bool = False) -> Sequence[Silence]:
    with Session(engine) as session:
        query = select(Silence).order_by(col(Silence.id))
        if not include_ended:
            query = query.where(col(Silence.expired_at).is_(None), col(Silence.ends_at) > now)
        return list(session.exec(query))


def expire_silence(engine: Engine, silence_id: int, now: datetime) -> Silence:
    with Session(engine) as session:
        silence = session.get(Silence, silence_id)
        if silence is None:
            raise UsageError(f"no silence {silence_id}", hint="see: kpitree silence list")
        silence.expired_at = now
        session.add(silence)
        session.commit()
        session.refresh(silence)
        return silence


def take_pending_digests(session: Session, message_keys: Sequence[str]) -> dict[str, EarlierDigest]:
    """Today's daily digests still waiting, removed from the outbox so that this run's digest,
    which lists their alerts too, replaces them (in the run's transaction)."""
    if not message_keys:
        return {}
    rows = session.exec(
        select(OutboxMessage).where(
            col(OutboxMessage.message_key).in_(message_keys), col(OutboxMessage.status) == "pending"
        )
    ).all()
    found: dict[str, EarlierDigest] = {}
    for row in rows:
        ids = tuple(int(i) for i in json.loads(row.event_ids))
        facts = session.exec(select(AlertEvent).where(col(AlertEvent.id).in_(ids)).order_by(col(AlertEvent.id)))
        found[row.message_key] = EarlierDigest(ids, tuple(json.loads(event.facts) for event in facts))
        session.delete(row)
    session.flush()
    return found
