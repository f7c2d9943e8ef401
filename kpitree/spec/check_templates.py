"""Alert templates are checked when the tree loads: a syntax error or an unknown variable in a
template fails ``kpitree check`` with the template's file and line, not the scheduled run."""

from __future__ import annotations

from kpitree.spec.issues import IssueCode, Level, ValidationIssue
from kpitree.spec.sink import IssueSink
from kpitree.tree import MetricTree


def check_templates(tree: MetricTree, sink: IssueSink) -> None:
    if tree.alerting.templates is None and not any(node.alerts for node in tree.nodes.values()):
        return  # nothing will be rendered; do not pay for importing Jinja
    from kpitree.alert.messages import sample_contexts
    from kpitree.alert.templates import AlertTemplates, template_dir

    directory = template_dir(tree)
    if directory is not None and not directory.is_dir():
        sink.error(
            ("alerting", "templates"),
            IssueCode.TEMPLATE,
            f"no template directory {directory}",
            "create it with the templates to override, or remove alerting.templates to use the shipped ones",
        )
        return
    for problem in AlertTemplates(directory).problems(sample_contexts(tree)):
        sink.issues.append(
            ValidationIssue(
                problem.file,
                problem.line,
                1,
                Level.ERROR,
                IssueCode.TEMPLATE,
                problem.message,
                "templates get the variables listed in docs/alerts.md; "
                "copy a shipped one from templates/alerts/ as a start",
            )
        )
