"""The spec commands, run in-process with their exit codes asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpitree.cli.main import cli
from tests.conftest import FIXTURES, TREES

TEN = FIXTURES / "bad_trees" / "ten_mistakes.yaml"


def test_validate_the_seed_trees_exits_0(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", str(TREES)])
    assert result.exit_code == 0, result.output
    assert "2 file(s) checked: 0 error(s), 0 warning(s)" in result.output


def test_ten_mistakes_print_ten_errors_and_no_traceback(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", str(TEN)])
    assert result.exit_code == 1
    error_lines = [line for line in result.output.splitlines() if ": error [" in line]
    assert len(error_lines) == 10
    assert all(line.startswith(f"{TEN}:") for line in error_lines)
    assert result.output.count("    hint: ") == 10
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_validate_json_lists_every_issue_with_its_place(runner: CliRunner) -> None:
    result = runner.invoke(
        cli, ["validate", "--format", "json", str(TEN), str(TREES / "contact_engagement_score.yaml")]
    )
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["valid"] is False
    assert [(f["valid"], f["errors"]) for f in report["files"]] == [(False, 10), (True, 0)]
    first = report["issues"][0]
    assert set(first) == {"file", "line", "column", "level", "code", "message", "hint"}
    assert (first["line"], first["code"], first["level"]) == (4, "unknown_timezone", "error")


def test_warnings_pass_unless_strict(runner: CliRunner, tmp_path: Path) -> None:
    tree = tmp_path / "orphan.yaml"
    tree.write_text(
        "tree: orphan\ntitle: A node nobody uses\n"
        "people: [{id: ann, name: Ann}]\n"
        "nodes:\n"
        "  - {id: total, formula: '1 + 1', direction: higher_is_better, owners: {accountable: ann}}\n"
        "  - {id: stray, formula: '2'}\n"
    )
    relaxed = runner.invoke(cli, ["validate", str(tree)])
    assert relaxed.exit_code == 0
    assert f"{tree}:6:10: warning [unreachable_node]" in relaxed.output
    assert runner.invoke(cli, ["validate", "--strict", str(tree)]).exit_code == 1


def test_a_file_that_is_not_a_tree_is_a_user_error(runner: CliRunner, tmp_path: Path) -> None:
    listing = tmp_path / "list.yaml"
    listing.write_text("- just\n- a list\n")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    result = runner.invoke(cli, ["validate", str(listing), str(binary)])
    assert result.exit_code == 1
    assert f"{listing}:1:1: error [not_a_tree]" in result.output
    assert f"{binary}:1:1: error [unreadable_file]" in result.output
    assert "Traceback" not in result.output


def test_a_missing_path_is_a_user_error_without_traceback(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "error: no such file or directory" in result.output
    assert "Traceback" not in result.output


def test_tree_show_prints_formulas_owners_and_bands(runner: CliRunner) -> None:
    result = runner.invoke(
        cli, ["tree", "show", "activity_volume_per_contact", "--trees-dir", str(TREES)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "= qualifying_activities / active_contacts" in out
    assert "= reps_active * selling_hours_per_rep * touches_per_selling_hour" in out
    assert "A: dana  R: priya  I: sales_leadership" in out
    assert "High-volume SMB outbound 6-10" in out
    assert "where kind = 'touch'; duplicates by (source_system, external_id) count once" in out


def test_tree_show_of_the_score_tree_shows_weights_and_bands(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["tree", "show", str(TREES / "contact_engagement_score.yaml")])
    assert result.exit_code == 0, result.output
    assert "'login': 5 points per signal" in result.output
    assert "Champion 75-100; Engaged 50-74; At risk 25-49; Dormant 0-24" in result.output


def test_tree_show_of_an_unknown_tree_names_the_known_ones(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["tree", "show", "activity_per_contact", "--trees-dir", str(TREES)])
    assert result.exit_code == 1
    assert "error: no tree 'activity_per_contact'" in result.output
    assert "activity_volume_per_contact, contact_engagement_score" in result.output


def test_tree_show_of_an_invalid_tree_fails_with_the_count(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["tree", "show", str(TEN)])
    assert result.exit_code == 1
    assert "error: 10 validation error(s)" in result.output


def test_tree_list(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["tree", "list", "--trees-dir", str(TREES)])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["activity_volume_per_contact", "ok"],
        ["contact_engagement_score", "ok"],
    ]


def test_schema_writes_a_file(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "tree.schema.json"
    result = runner.invoke(cli, ["schema", "-o", str(target)])
    assert result.exit_code == 0
    assert json.loads(target.read_text())["title"] == "TreeFileSpec"


def test_demo_shows_the_shipped_trees_both_verdicts_and_a_calibration(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the demo writes .kpitree/demo/ in the working directory
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert "Activity volume per contact" in result.output
    assert "Contact engagement score" in result.output
    assert "verdict: VERIFIED" in result.output  # the planted Mid-market meeting play
    assert "verdict: NOT VERIFIED" in result.output  # the SMB rewrite that changed nothing
    assert "validated on the next window" in result.output
    assert (tmp_path / ".kpitree/demo/reports/calibration_contact_engagement_score.html").is_file()


def test_usage_errors_exit_2(runner: CliRunner) -> None:
    assert runner.invoke(cli, ["validate", "--format", "xml"]).exit_code == 2
    assert runner.invoke(cli, ["no-such-command"]).exit_code == 2


def test_a_copy_of_the_shipped_tree_with_fourteen_mistakes_gets_exactly_fourteen_messages(runner: CliRunner) -> None:
    """Four of them in one node that also has a misspelled key: the key is reported, and the node
    is still checked without it (issue 17). Nothing else is said: no "has no description"."""
    path = FIXTURES / "bad_trees" / "shipped_tree_fourteen_mistakes.yaml"
    cron_32 = "Error validating expression '32': the last value (32) is higher than the maximum value (31)"
    rules = "threshold, band, change, slide, anomaly, entity_band_crossing"
    result = runner.invoke(cli, ["validate", "--format", "json", str(path)])
    assert result.exit_code == 1
    issues = [(i["line"], i["code"], i["message"]) for i in json.loads(result.output)["issues"]]
    assert issues == [
        (18, "unknown_timezone", "unknown timezone 'Europe/Londn'"),
        (23, "invalid_cron", f"invalid cron '0 7 32 * *': {cron_32}"),
        (31, "invalid_email", "'marcus.hale@example' is not a valid email address"),
        (35, "unknown_person", "team member 'sofiaa' is not in people"),
        (44, "unknown_column", "source 'activities' has no column 'external_idd'"),
        (60, "unknown_node", "formula of 'activity_volume_per_contact' uses unknown node 'active_contactz'"),
        (65, "band_range", "target low 14 is above high 6"),
        (89, "unknown_alert_rule", f"alert rule type must be one of: {rules}"),
        (111, "unknown_column", "source 'rep_capacity' has no column 'rep_idd'"),
        (118, "unknown_key", "unknown key 'descripton'"),
        (120, "formula_syntax", "formula of 'selling_hours_per_rep': operator // is not allowed in a formula"),
        (122, "unknown_person", "owner 'sofiaa' is not a person or team"),
        (125, "missing_key", "missing required key 'min_abs'"),
        (140, "not_a_number", "'.nan' is not a finite number"),
    ]  # fmt: skip
