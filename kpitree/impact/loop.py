"""The loop that closes an intervention: evaluate once its window has passed, record, tell the owner.

``kpitree impact evaluate`` and every scheduled run of a tree call :func:`evaluate_due`; a verdict
is recorded each time and told to the owner when it is new or has changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.engine import Engine

from kpitree.impact.evaluate import ImpactEvaluation, evaluate_intervention, is_due, record_evaluation
from kpitree.impact.notify import verdict_messages
from kpitree.impact.registry import RegisteredIntervention, latest_evaluations, list_interventions
from kpitree.tree import MetricTree
from kpitree.warehouse import Warehouse


@dataclass(frozen=True)
class EvaluationOutcome:
    evaluation: ImpactEvaluation
    evaluation_id: int
    queued: int  # messages to the owner put in the outbox (0 when the verdict is unchanged)


def evaluate_and_tell(
    engine: Engine,
    tree: MetricTree,
    intervention: RegisteredIntervention,
    warehouse: Warehouse,
    today: date,
    now: datetime,
    notify: bool = True,
) -> EvaluationOutcome:
    evaluation = evaluate_intervention(tree, intervention, warehouse, today)
    messages = (lambda evaluation_id: verdict_messages(tree, evaluation, evaluation_id)) if notify else None
    evaluation_id, queued = record_evaluation(engine, evaluation, now, messages)
    return EvaluationOutcome(evaluation, evaluation_id, queued)


def pending_interventions(engine: Engine, tree: MetricTree, today: date) -> list[RegisteredIntervention]:
    """The tree's interventions whose window has passed and that were never evaluated."""
    registered = list_interventions(engine, tree.id)
    evaluated = latest_evaluations(engine, [i.id for i in registered])
    return [i for i in registered if i.id not in evaluated and is_due(i, tree, today)]


def evaluate_due(
    engine: Engine, tree: MetricTree, warehouse: Warehouse, today: date, now: datetime, notify: bool = True
) -> list[EvaluationOutcome]:
    """Evaluate (and tell) every intervention of ``tree`` that has become due since the last run."""
    return [
        evaluate_and_tell(engine, tree, intervention, warehouse, today, now, notify)
        for intervention in pending_interventions(engine, tree, today)
    ]
