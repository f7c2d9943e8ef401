"""Alert templates are checked when the tree loads, without running them: an override folder must
lie inside the tree's folder, and each overriding template must parse, compile and use only the
variables alerts provide (see :mod:`kpitree.templating.lint`), reported with its file and line."""

from __future__ import annotations

from kpitree.alert.templates import AlertTemplates, template_dir, template_dir_is_confined
from kpitree.errors import InternalError
from kpitree.spec.issues import IssueCode, Level, ValidationIssue
from kpitree.spec.sink import IssueSink
from kpitree.tree import MetricTree

_TEMPLATES_KEY = ("alerting", "templates")


def check_templates(tree: MetricTree, sink: IssueSink) -> None:
    if tree.alerting.templates is None:
        return  # the shipped templates are kpitree's own, tested with it
    directory = template_dir(tree)
    if directory is None:
        raise InternalError("directory is missing")
    if not template_dir_is_confined(tree):
        sink.error(
            _TEMPLATES_KEY,
            IssueCode.TEMPLATE_LOCATION,
            f"alerting.templates resolves to {directory}, outside the tree file's folder {tree.path.parent.resolve()}",
            "keep override templates in a folder beside the tree file (symlinks are followed before this check)",
        )
        return
    if not directory.is_dir():
        sink.error(
            _TEMPLATES_KEY,
            IssueCode.TEMPLATE,
            f"no template directory {directory}",
            "create it with the templates to override, or remove alerting.templates to use the shipped ones",
        )
        return
    # Imported here: the sample contexts need the whole alert stage (views, routing, attribution,
    # down to SQLAlchemy), 0.4 s that `kpitree validate` of a tree without overrides never needs.
    from kpitree.alert.messages import sample_contexts

    for problem in AlertTemplates(directory).override_problems(sample_contexts(tree)):
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
