"""An alert's life, like Alertmanager's: firing, resolved, and when to say so.

Every run evaluates every rule; this module decides, from what the run saw and what the state
database remembers about the same fingerprint (tree, node, rule, entity), whether that is news:

==============================  ==================  ===========================================
this run                         remembered          event (notified unless said otherwise)
==============================  ==================  ===========================================
holds                            nothing, resolved   ``firing``
holds, another signature         firing              ``changed`` (if ``notify_on_change``)
holds, same signature            firing, notified    ``repeat`` once ``repeat_interval`` passed
holds                            firing, never told  ``firing`` (it was silenced until now)
does not hold                    firing              ``resolved`` (if ``notify_on_resolve`` and
                                                     the firing was told to anyone)
==============================  ==================  ===========================================

Anything else is not news, so a condition that lasts three runs notifies once. An event that a
silence or a maintenance window covers is still recorded, with what suppressed it, and is not
marked as notified: when the silence ends, the next run tells it.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kpitree.alert.rules import Condition
from kpitree.errors import InternalError
from kpitree.spec.models import AlertRuleSpec
from kpitree.spec.models.base import parse_duration
from kpitree.spec.models.tree import MaintenanceWindow


class EventKind(enum.StrEnum):
    FIRING = "firing"
    CHANGED = "changed"
    REPEAT = "repeat"
    RESOLVED = "resolved"


def fingerprint(tree_id: str, node_id: str, rule_id: str, entity: str = "") -> str:
    return hashlib.sha256("\x1f".join((tree_id, node_id, rule_id, entity)).encode()).hexdigest()


@dataclass(frozen=True)
class Remembered:
    """What the state database holds for a fingerprint."""

    status: str  # firing | resolved
    signature: str
    last_notified_at: datetime | None


@dataclass(frozen=True)
class SilenceRule:
    """A silence as the lifecycle needs it: what it matches (None matches anything) and when."""

    id: int
    starts_at: datetime
    ends_at: datetime
    tree_id: str | None = None
    node_id: str | None = None
    rule_id: str | None = None
    entity: str | None = None

    def covers(self, tree_id: str, node_id: str, rule_id: str, entity: str, now: datetime) -> bool:
        wanted = ((self.tree_id, tree_id), (self.node_id, node_id), (self.rule_id, rule_id), (self.entity, entity))
        return self.starts_at <= now < self.ends_at and all(want is None or want == got for want, got in wanted)


@dataclass(frozen=True)
class Decision:
    kind: EventKind | None  # None: nothing to record
    notify: bool
    suppressed_by: str | None
    status: str  # the fingerprint's status after this run
    signature: str


def decide(
    rule: AlertRuleSpec,
    condition: Condition,
    remembered: Remembered | None,
    now: datetime,
    suppressed_by: str | None = None,
) -> Decision:
    """What this run's ``condition`` means for the alert, given what was ``remembered``."""
    firing = remembered is not None and remembered.status == "firing"
    if not condition.holds:
        if not firing:
            return Decision(None, False, None, "resolved", "")
        if remembered is None:
            raise InternalError("remembered is missing")
        told = remembered.last_notified_at is not None
        wanted = rule.notify_on_resolve and told
        return _event(EventKind.RESOLVED, wanted, suppressed_by, "resolved", "")
    signature = condition.signature
    if not firing:
        return _event(EventKind.FIRING, True, suppressed_by, "firing", signature)
    if remembered is None:
        raise InternalError("remembered is missing")
    if remembered.last_notified_at is None:
        return _event(EventKind.FIRING, True, suppressed_by, "firing", signature)
    if signature != remembered.signature:
        if rule.notify_on_change:
            return _event(EventKind.CHANGED, True, suppressed_by, "firing", signature)
        return Decision(None, False, None, "firing", signature)
    if now - remembered.last_notified_at >= parse_duration(rule.repeat_interval):
        return _event(EventKind.REPEAT, True, suppressed_by, "firing", signature)
    return Decision(None, False, None, "firing", signature)


def _event(kind: EventKind, wanted: bool, suppressed_by: str | None, status: str, signature: str) -> Decision:
    return Decision(kind, wanted and suppressed_by is None, suppressed_by if wanted else None, status, signature)


def suppression(
    silences: Sequence[SilenceRule],
    maintenance: Sequence[MaintenanceWindow],
    key: tuple[str, str, str, str],
    now: datetime,
) -> str | None:
    """What holds an alert back now: ``silence:<id>`` or ``maintenance:<reason>``; None if nothing."""
    for silence in silences:
        if silence.covers(*key, now):
            return f"silence:{silence.id}"
    for window in maintenance:
        if window.start <= now < window.end:
            return f"maintenance:{window.reason or window.start.isoformat()}"
    return None
