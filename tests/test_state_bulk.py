"""Alert events and states are written many rows per statement: a run with thousands of entity
crossings must not send the state database a statement per row (SQLAlchemy falls back to one row
per INSERT on SQLite when asked to return rows in parameter order)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from kpitree.alert.lifecycle import Decision, EventKind
from kpitree.state.alerts import AlertKey, NewEvent, record_events, save_decisions
from kpitree.state.store import StateStore

NOW = datetime(2026, 10, 26, 6, tzinfo=UTC)
ROWS = 2500


def test_thousands_of_events_and_states_take_a_few_statements(tmp_path: Path) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    inserts: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            inserts.append(statement)

    keys = [AlertKey(f"fp{i}", "tree", "node", "rule", f"con-{i}") for i in range(ROWS)]
    with Session(store.engine) as session:
        ids = record_events(
            session, [NewEvent(k, "firing", None, {"n": i}) for i, k in enumerate(keys)], "run-1", "2026-W43", NOW
        )
        save_decisions(
            session, [(k, Decision(EventKind.FIRING, True, None, "firing", "sig")) for k in keys], NOW, "2026-W43"
        )
        session.commit()
    assert len({event_id for event_id, _new in ids}) == ROWS
    assert all(new for _id, new in ids)
    assert len(inserts) <= 10, f"{len(inserts)} INSERT statements for {ROWS} events and {ROWS} states"
    with store.engine.connect() as connection:
        counted = [
            connection.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("alert_event", "alert_state")
        ]
    assert counted == [ROWS, ROWS]
    # Each id is its own event's: the returned rows were matched by fingerprint, not by order.
    with store.engine.connect() as connection:
        stored: dict[int, str] = dict(connection.execute(sa.text("SELECT id, fingerprint FROM alert_event")).all())
    assert [stored[event_id] for event_id, _new in ids] == [k.fingerprint for k in keys]
    store.engine.dispose()
