"""Alert messages from Jinja2 templates: email subject, text and HTML, and Slack Block Kit.

The shipped templates are in ``templates/alerts/``; a tree's ``alerting.templates`` directory
overrides any of them by file name. Every template renders in kpitree's bounded sandbox
(:mod:`kpitree.templating.sandbox`), strict (an unknown variable is an error, not an empty string).
An override is checked when the tree loads *without being run* (:mod:`kpitree.templating.lint`),
so a typo fails ``kpitree validate`` rather than the 7 a.m. run, and a hostile template runs
nothing during validation.

Escaping is per medium: HTML is autoescaped; Slack text goes through the ``mrkdwn`` filter, which
escapes only ``&``, ``<`` and ``>`` (as Slack asks), and ``tojson`` for the JSON around it. The
Block Kit limits are enforced after rendering: section text is cut at 3,000 characters and a
message at 50 blocks, each with a note saying so, and a plain ``text`` fallback is always set.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from kpitree.errors import UserError
from kpitree.resources import shipped_dir
from kpitree.templating.compiled import CompiledTemplates
from kpitree.templating.lint import TemplateProblem, lint_template
from kpitree.templating.sandbox import BoundedSandbox
from kpitree.tree import MetricTree

SUBJECT = "subject.txt.j2"
TEXT = "body.txt.j2"
HTML = "body.html.j2"
SLACK = "slack.json.j2"
TEMPLATE_NAMES = (SUBJECT, TEXT, HTML, SLACK)

SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150
BLOCK_LIMIT = 50
TRUNCATED = "... (cut to fit Slack; the email and `kpitree report` have it all)"


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    text: str
    html: str
    blocks: tuple[dict[str, Any], ...]
    slack_text: str  # the notification and accessibility fallback Slack shows with the blocks

    @property
    def size(self) -> int:
        """Bytes of the email's subject and bodies (an email carries both the text and the HTML)."""
        return sum(len(part.encode()) for part in (self.subject, self.text, self.html))


class TemplateError(UserError):
    """A template failed to render (a tree author's mistake); carries where."""

    def __init__(self, problem: TemplateProblem) -> None:
        super().__init__(
            f"{problem.file}:{problem.line}: {problem.message}",
            hint="fix the template, or remove alerting.templates to use the shipped ones",
        )
        self.problem = problem


def template_dir(tree: MetricTree) -> Path | None:
    """The tree's override directory (``alerting.templates``, relative to the tree file), resolved."""
    if tree.alerting.templates is None:
        return None
    return (tree.path.parent / tree.alerting.templates).resolve()


def template_dir_is_confined(tree: MetricTree) -> bool:
    """Whether the override directory lies inside the tree file's folder once symlinks are resolved."""
    directory = template_dir(tree)
    return directory is None or directory.is_relative_to(tree.path.parent.resolve())


def mrkdwn(value: object) -> str:
    """Slack's escaping: ``&``, ``<`` and ``>`` only (``<`` starts a link or mention)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Only AlertTemplates' environments (all with the same options) compile into this one.
_COMPILED = CompiledTemplates()


class AlertTemplates:
    def __init__(self, override_dir: Path | None = None, family: str = "alerts") -> None:
        """``family`` picks the shipped set: ``alerts``, or ``impact`` for intervention verdicts (a
        tree's override directory holds the latter in an ``impact/`` folder)."""
        search: list[Path] = []
        if override_dir is not None:
            search.append(override_dir if family == "alerts" else override_dir / family)
        self.override_dir = search[0] if search else None
        search.append(shipped_dir("templates") / family)
        self.search_path = tuple(str(path) for path in search)
        self.environment = BoundedSandbox(
            search,
            html_extensions=["html", "html.j2"],
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            bytecode_cache=_COMPILED,
        )
        self.environment.filters["mrkdwn"] = mrkdwn

    def render(self, context: Mapping[str, Any]) -> RenderedMessage:
        subject = " ".join(self._render(SUBJECT, context).split())  # one line, whatever a title holds
        return RenderedMessage(
            subject,
            self._render(TEXT, context),
            self._render(HTML, context),
            fit_blocks(self._blocks(context)),
            slack_fallback(subject, context),
        )

    def override_problems(self, contexts: Sequence[Mapping[str, Any]]) -> list[TemplateProblem]:
        """What is wrong with the overriding templates, found without rendering them (see lint)."""
        if self.override_dir is None:
            return []
        found: list[TemplateProblem] = []
        for name in TEMPLATE_NAMES:
            if (self.override_dir / name).exists():
                found += lint_template(self.environment, name, contexts, json_output=name == SLACK)
        return found

    def problems(self, contexts: Sequence[Mapping[str, Any]]) -> list[TemplateProblem]:
        """Every template that fails to parse or to render one of ``contexts``; one problem per file.
        This *renders*: for the shipped templates, and for overrides when their owner asks to test them."""
        found: list[TemplateProblem] = []
        for name in TEMPLATE_NAMES:
            try:
                self.environment.get_template(name)
                for context in contexts:
                    if name == SLACK:
                        self._blocks(context)  # the Slack template must also render to JSON
                    else:
                        self._render(name, context)
            except jinja2.TemplateNotFound:
                found.append(TemplateProblem(self.search_path[0], 1, f"template {name} is missing"))
            except jinja2.TemplateSyntaxError as exc:
                found.append(TemplateProblem(self._file(name), exc.lineno, f"syntax error: {exc.message}"))
            except TemplateError as exc:
                found.append(exc.problem)
        return found

    def _blocks(self, context: Mapping[str, Any]) -> list[Any]:
        raw = self._render(SLACK, context)
        try:
            blocks = json.loads(raw)
        except json.JSONDecodeError as exc:
            problem = TemplateProblem(self._file(SLACK), exc.lineno, f"does not render to JSON: {exc.msg}")
            raise TemplateError(problem) from None
        if not isinstance(blocks, list):
            raise TemplateError(TemplateProblem(self._file(SLACK), 1, "must render to a JSON list of blocks"))
        return blocks

    def _render(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            return self.environment.render(name, context)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(TemplateProblem(self._file(name), exc.lineno, f"syntax error: {exc.message}")) from None
        except (jinja2.TemplateError, RecursionError) as exc:
            # UndefinedError, a sandbox refusal, a budget passed: find the template's line.
            message = str(exc) if not isinstance(exc, RecursionError) else "the template calls itself too deeply"
            raise TemplateError(TemplateProblem(self._file(name), _template_line(exc, name), message)) from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            # What a template's own expression raises ({{ 1 / 0 }}, {{ "a" - 1 }}) is its author's mistake.
            problem = TemplateProblem(self._file(name), _template_line(exc, name), f"{type(exc).__name__}: {exc}")
            raise TemplateError(problem) from None

    def _file(self, name: str) -> str:
        for directory in self.search_path:
            candidate = Path(directory) / name
            if candidate.is_file():
                return str(candidate)
        return name


def _template_line(exc: BaseException, name: str) -> int:
    """Jinja rewrites tracebacks so that template frames carry the template's file and line."""
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename.endswith(name)]
    return (lines[-1] or 1) if lines else 1


def fit_blocks(blocks: Sequence[Any]) -> tuple[dict[str, Any], ...]:
    """Cut over-long texts and block lists to Slack's limits, saying where something was cut."""
    fitted: list[dict[str, Any]] = []
    for block in blocks:
        block = dict(block)
        text = block.get("text")
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            limit = HEADER_TEXT_LIMIT if block.get("type") == "header" else SECTION_TEXT_LIMIT
            if len(text["text"]) > limit:
                cut = "..." if block.get("type") == "header" else TRUNCATED
                block["text"] = {**text, "text": text["text"][: limit - len(cut)] + cut}
        fitted.append(block)
    if len(fitted) > BLOCK_LIMIT:
        hidden = len(fitted) - (BLOCK_LIMIT - 1)
        note: dict[str, Any] = {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"{hidden} more blocks not shown: see the email or `kpitree report`"}
            ],
        }
        fitted = [*fitted[: BLOCK_LIMIT - 1], note]
    return tuple(fitted)


def slack_fallback(subject: str, context: Mapping[str, Any]) -> str:
    alerts = context.get("alerts") or []
    lines = [subject, *(f"- {alert['node']['title']}: {str(alert['summary'])[:200]}" for alert in alerts[:10])]
    if len(alerts) > 10:
        lines.append(f"... and {len(alerts) - 10} more")
    return mrkdwn("\n".join(lines))[:SECTION_TEXT_LIMIT]
