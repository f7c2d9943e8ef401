"""Telling an intervention's owner its verdict, through the alert pipeline's templates and outbox.

One message per address of the owner (email and Slack), rendered from ``templates/impact/`` (a
tree overrides them in ``<alerting.templates>/impact/``). The idempotency key holds the
intervention, the verdict and the address: the same verdict is told once, a changed one again.
"""

from __future__ import annotations

from typing import Any

from kpitree.alert.messages import outbox_message
from kpitree.alert.queue import NewMessage, idempotency_key
from kpitree.alert.routing import route_to_owner
from kpitree.alert.templates import AlertTemplates, template_dir
from kpitree.display import number
from kpitree.impact.describe import pct
from kpitree.impact.evaluate import ImpactEvaluation
from kpitree.tree import MetricTree


def verdict_context(tree: MetricTree, evaluation: ImpactEvaluation) -> dict[str, Any]:
    """What the templates see (the recipient is added per message)."""
    i = evaluation.intervention
    estimate, placebo = evaluation.judgement.estimate, evaluation.judgement.placebo
    return {
        "tree": {"id": tree.id, "title": tree.title},
        "i": {
            "id": i.id,
            "node_title": tree.node(i.node_id).title,
            "segment": i.segment_label,
            "control": i.control_label,
            "expect": i.expect,
            "size": f"{i.expected_size:.0%}" if i.expected_size else "",
            "window": str(i.window),
            "start": i.start.isoformat(),
            "registered": f"{i.registered_at:%Y-%m-%d}",
            "note": i.note,
        },
        "verdict": evaluation.verdict.value,
        "reason": evaluation.judgement.reason,
        "span_before": f"{evaluation.span_before.start} to {evaluation.span_before.last_day}",
        "estimate": {
            "effect": f"{estimate.effect:+.4g}",
            "relative": pct(estimate.relative),
            "level": f"{estimate.level:.0%}",
            "low": f"{estimate.low:+.4g}",
            "high": f"{estimate.high:+.4g}",
        }
        if estimate
        else None,
        "placebo": {"effect": f"{placebo.effect:+.4g}", "low": f"{placebo.low:+.4g}", "high": f"{placebo.high:+.4g}"}
        if placebo
        else None,
        "descriptive": f"{number(evaluation.treated_before)} -> {number(evaluation.treated_after)} per period "
        f"({pct(evaluation.descriptive_change)})",
        "path": [
            {"title": s.title, "before": number(s.before), "after": number(s.after), "change": pct(s.change)}
            for s in evaluation.path
        ],
        "share": f"{evaluation.share_of_root:.0%}" if evaluation.share_of_root is not None else "",
        "edits": list(i.edits_after_registration),
    }


def verdict_messages(tree: MetricTree, evaluation: ImpactEvaluation, evaluation_id: int) -> list[NewMessage]:
    """The outbox rows telling the intervention's owner the verdict."""
    templates = AlertTemplates(template_dir(tree), family="impact")
    context = verdict_context(tree, evaluation)
    i = evaluation.intervention
    run_key = f"impact:{i.id}:evaluation:{evaluation_id}"
    messages = []
    for recipient in route_to_owner(tree, i.owner):
        rendered = templates.render({**context, "recipient": {"name": recipient.name, "role": "to"}})
        key = idempotency_key("impact", str(i.id), evaluation.verdict.value, recipient.channel, recipient.address)
        messages.append(outbox_message(tree.id, run_key, key, key, recipient, rendered, recipient.channel))
    return messages
