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

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from kpitree.alert.lifecycle import Decision, Remembered, SilenceRule
from kpitree.alert.messages import EarlierDigest
from kpitree.errors import UsageError
from kpitree.state.models import AlertEvent, AlertState, OutboxMessage, Silence


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
    assert row.id is not None
    return SilenceRule(row.id, row.starts_at, row.ends_at, row.tree_id, row.node_id, row.rule_id, row.entity)


@dataclass(frozen=True)
class AlertKey:
    fingerprint: str
    tree_id: str
    node_id: str
    rule_id: str
    entity: str


def save_decision(session: Session, key: AlertKey, decision: Decision, now: datetime, period_label: str) -> None:
    """Create or update the fingerprint's state after a run's decision."""
    state = session.get(AlertState, key.fingerprint)
    if state is None:
        if decision.status != "firing":
            return  # a rule that never fired leaves no row
        state = AlertState(
            fingerprint=key.fingerprint,
            tree_id=key.tree_id,
            node_id=key.node_id,
            rule_id=key.rule_id,
            entity=key.entity,
            status="firing",
            signature=decision.signature,
            first_fired_at=now,
            last_fired_at=now,
            period_label=period_label,
        )
    else:
        if decision.status == "firing" and state.status != "firing":
            state.first_fired_at = now
            state.resolved_at = None
        if decision.status == "firing":
            state.last_fired_at = now
        elif state.status == "firing":
            state.resolved_at = now
        state.status = decision.status
        state.signature = decision.signature
        state.period_label = period_label
    if decision.status == "resolved":
        state.last_notified_at = None  # a later firing starts afresh
    elif decision.notify:
        state.last_notified_at = now
    session.add(state)


def record_event(
    session: Session,
    key: AlertKey,
    kind: str,
    run_key: str,
    period_label: str,
    now: datetime,
    suppressed_by: str | None,
    facts: Mapping[str, object],
) -> tuple[int, bool]:
    """The event's id, and whether it is new: the same run deciding the same event again (a re-run)
    finds the first one."""
    existing = session.exec(
        select(AlertEvent).where(
            col(AlertEvent.fingerprint) == key.fingerprint,
            col(AlertEvent.kind) == kind,
            col(AlertEvent.run_key) == run_key,
        )
    ).first()
    if existing is not None:
        assert existing.id is not None
        return existing.id, False
    event = AlertEvent(
        fingerprint=key.fingerprint,
        tree_id=key.tree_id,
        node_id=key.node_id,
        rule_id=key.rule_id,
        entity=key.entity,
        kind=kind,
        run_key=run_key,
        period_label=period_label,
        created_at=now,
        suppressed_by=suppressed_by,
        facts=json.dumps(facts, default=str),
    )
    session.add(event)
    session.flush()
    assert event.id is not None
    return event.id, True


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
