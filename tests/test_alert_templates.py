"""Alert templates: strict, checked when the tree loads, escaped per medium, within Slack's limits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from kpitree.alert.messages import MessagePlan, message_context, sample_contexts
from kpitree.alert.routing import Role
from kpitree.alert.templates import (
    BLOCK_LIMIT,
    SECTION_TEXT_LIMIT,
    AlertTemplates,
    fit_blocks,
    mrkdwn,
)
from kpitree.alert.views import sample_view
from kpitree.cli.main import cli
from tests.alerting_world import FIXTURE, alerting_tree


def test_slack_escaping_is_ampersand_and_angle_brackets_only() -> None:
    assert mrkdwn("<img onerror=x> & \"co\" 'x'") == "&lt;img onerror=x&gt; &amp; \"co\" 'x'"


def test_long_sections_and_long_messages_are_cut_with_a_note() -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 5000}} for _ in range(60)]
    fitted = fit_blocks(blocks)
    assert len(fitted) == BLOCK_LIMIT
    assert all(len(b["text"]["text"]) <= SECTION_TEXT_LIMIT for b in fitted if b["type"] == "section")
    assert fitted[0]["text"]["text"].endswith("`kpitree report` have it all)")
    assert fitted[-1]["type"] == "context"
    assert fitted[-1]["elements"][0]["text"].startswith("11 more blocks not shown")


def test_eighty_alerts_render_within_slack_limits_with_a_text_fallback() -> None:
    tree = alerting_tree()
    plan = MessagePlan(tree, "2026-08", "run", "kpitree report alerting --period 2026-08")
    view = {**sample_view(tree), "summary": "y" * 4000}
    rendered = AlertTemplates().render(message_context(plan, ["Lena"], Role.TO, [view] * 80))
    assert len(rendered.blocks) <= BLOCK_LIMIT
    assert all(len(json.dumps(b)) < 3500 for b in rendered.blocks)
    assert rendered.slack_text.startswith("[kpitree]")
    assert "and 70 more" in rendered.slack_text


def test_a_title_with_line_breaks_cannot_break_the_subject() -> None:
    tree = alerting_tree()
    plan = MessagePlan(tree, "2026-08", "run", "kpitree report")
    view = sample_view(tree)
    view = {**view, "node": {**view["node"], "title": "Calls\r\nBcc: everyone@example.com"}}
    subject = AlertTemplates().render(message_context(plan, ["Lena"], Role.TO, [view])).subject
    assert "\r" not in subject
    assert "\n" not in subject


def test_every_shipped_template_renders_every_sample() -> None:
    assert AlertTemplates().problems(sample_contexts(alerting_tree())) == []


def override(tmp_path: Path, name: str, text: str) -> Path:
    tree_file = tmp_path / "alerting.yaml"
    tree_file.write_text(
        FIXTURE.read_text().replace("  fallback_receiver: ops\n", "  fallback_receiver: ops\n  templates: mine\n")
    )
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / name).write_text(text)
    return tree_file


def test_an_unknown_variable_in_an_override_fails_validation_at_its_line(runner: CliRunner, tmp_path: Path) -> None:
    tree_file = override(tmp_path, "body.txt.j2", "Hello {{ recipient.name }}\n\n{{ alert.node.title }}\n")
    result = runner.invoke(cli, ["validate", str(tree_file)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'mine' / 'body.txt.j2'}:3:1: error [template]" in result.output
    assert "'alert' is undefined" in result.output
    assert "Traceback" not in result.output


def test_a_syntax_error_in_an_override_fails_validation(runner: CliRunner, tmp_path: Path) -> None:
    tree_file = override(tmp_path, "subject.txt.j2", "{% if digest %}digest\n")
    result = runner.invoke(cli, ["validate", str(tree_file)])
    assert result.exit_code == 1
    assert "subject.txt.j2" in result.output
    assert "syntax error" in result.output


def test_an_override_that_is_not_json_is_reported(runner: CliRunner, tmp_path: Path) -> None:
    tree_file = override(tmp_path, "slack.json.j2", '[{"type": "section",}]\n')
    result = runner.invoke(cli, ["validate", str(tree_file)])
    assert result.exit_code == 1
    assert "does not render to JSON" in result.output


def test_a_good_override_replaces_only_its_template(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parent.parent / "templates" / "alerts" / "subject.txt.j2"
    tree_file = override(tmp_path, "subject.txt.j2", "ALERT {{ tree.title }}\n")
    shutil.copy(shipped, tmp_path / "unused.j2")
    from kpitree.alert.templates import template_dir
    from kpitree.tree_files import load_tree_or_raise

    tree = load_tree_or_raise(tree_file)
    rendered = AlertTemplates(template_dir(tree)).render(sample_contexts(tree)[0])
    assert rendered.subject == "ALERT Touches & alerts"
    assert "Hello Sample Owner" in rendered.text  # the shipped body still serves


def test_templates_compile_once_per_process_and_again_when_their_source_changes(
    tmp_path: Path, template_parses: list[str | None]
) -> None:
    """Each run builds fresh AlertTemplates; the compiled templates are kept, keyed by file and
    checked against the source, so an edited override renders its new text at once."""
    parsed = template_parses
    tree = alerting_tree()
    plan = MessagePlan(tree, "2026-08", "run", "kpitree report")
    context = message_context(plan, ["Lena"], Role.TO, [sample_view(tree)])
    overrides = tmp_path / "templates"
    overrides.mkdir()
    (overrides / "subject.txt.j2").write_text("first {{ period }}", encoding="utf-8")
    first = AlertTemplates(overrides).render(context)
    compiled = len(parsed)
    again = AlertTemplates(overrides).render(context)
    assert again == first
    assert len(parsed) == compiled, "a second set of the same templates compiles nothing"
    (overrides / "subject.txt.j2").write_text("second {{ period }}", encoding="utf-8")
    edited = AlertTemplates(overrides).render(context)
    assert (first.subject, edited.subject) == ("first 2026-08", "second 2026-08")
    assert parsed[compiled:] == ["subject.txt.j2"], "only the edited template compiles again"
