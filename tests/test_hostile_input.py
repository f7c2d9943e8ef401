"""Hostile input (issue 16): tree files and templates that tried to run code, hang the validator or
crash kpitree. Each is reproduced here and must end as a validation issue at its line, exit 1, with
no traceback, in a separate process bounded in time and memory, and without running anything."""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from rich.text import Text

from kpitree.alert.messages import sample_contexts
from kpitree.alert.templates import AlertTemplates, TemplateError, template_dir
from kpitree.cli.main import cli
from kpitree.cli.output import SafeConsole
from kpitree.spec.yaml_source import MAX_FILE_BYTES
from kpitree.tree_files import load_tree, load_tree_or_raise
from tests.alerting_world import FIXTURE
from tests.conftest import TREES
from tests.hostile import BASE, CASES, Hostile

MEMORY_LIMIT = 1 << 30  # bytes of address space a validating process may use
TIME_LIMIT = 60  # seconds: a hang fails the test instead of the suite


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def kpitree(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """kpitree in a process of its own, limited in memory and time."""
    return subprocess.run(
        [sys.executable, "-m", "kpitree", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT,
        preexec_fn=_bounded,
        check=False,
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_hostile_tree_is_an_issue_at_its_line(case: Hostile, tmp_path: Path) -> None:
    path = case.write(tmp_path)
    result = kpitree("validate", "--format", "json", str(path), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    issues = json.loads(result.stdout)["issues"]
    assert (case.code, case.line) in {(issue["code"], issue["line"]) for issue in issues}, issues
    assert all(issue["hint"] for issue in issues)


def test_one_hostile_file_does_not_stop_a_directory_or_tree_list(tmp_path: Path) -> None:
    trees = tmp_path / "trees"
    trees.mkdir()
    (trees / "good.yaml").write_text(BASE, encoding="utf-8")
    for case in CASES:
        case.write(trees)
    result = kpitree("validate", str(trees), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{trees / 'good.yaml'}: ok" in result.stdout
    listed = kpitree("tree", "list", "--trees-dir", str(trees), cwd=tmp_path)
    assert "Traceback" not in listed.stderr
    assert "good                                     ok" in listed.stdout
    assert listed.stdout.count(" error(s)") == len(CASES)


def test_a_tree_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text(BASE + "#" * MAX_FILE_BYTES, encoding="utf-8")
    (issue,) = load_tree(path).issues
    assert (issue.code, issue.line) == ("file_too_large", 1)


def test_an_alias_within_the_budget_still_reads(tmp_path: Path) -> None:
    text = BASE.replace("teams:\n", "shared: &owner {accountable: dana}\nteams:\n").replace(
        "owners: {accountable: dana, informed: [leaders]}", "owners: *owner"
    )
    path = tmp_path / "aliases.yaml"
    path.write_text(text, encoding="utf-8")
    issues = load_tree(path).issues
    assert [(i.code, i.message) for i in issues] == [("unknown_key", "unknown key 'shared'")]


# -- templates ------------------------------------------------------------------------------------

ESCAPES = (
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ lipsum.__globals__['os'].system('touch MARKER') }}",
    "{{ joiner.__init__.__globals__.__builtins__.open('MARKER', 'w').write('x') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ namespace.__init__.__globals__ }}",
)


def _override(tmp_path: Path, name: str, text: str, where: str = "mine") -> Path:
    tree_file = tmp_path / "alerting.yaml"
    setting = f"  fallback_receiver: ops\n  templates: {where}\n"
    tree_file.write_text(
        FIXTURE.read_text(encoding="utf-8").replace("  fallback_receiver: ops\n", setting), encoding="utf-8"
    )
    if where == "mine":
        (tmp_path / "mine").mkdir(exist_ok=True)
        (tmp_path / "mine" / name).write_text(text, encoding="utf-8")
    return tree_file


@pytest.mark.parametrize("escape", ESCAPES)
def test_a_template_escape_runs_nothing_in_validate_list_or_render(escape: str, tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"  # what the escapes try to create, by absolute path
    tree_file = _override(tmp_path, "subject.txt.j2", escape.replace("MARKER", str(marker)) + "\n")
    result = kpitree("validate", str(tree_file), cwd=tmp_path)
    assert result.returncode == 1
    assert "error [template]" in result.stdout
    assert "refused by the template sandbox" in result.stdout
    kpitree("tree", "list", "--trees-dir", str(tmp_path), cwd=tmp_path)
    # Rendering it, as a run would (past validation), is refused by the sandbox itself.
    tree = load_tree_or_raise(FIXTURE)
    templates = AlertTemplates(tmp_path / "mine")
    with pytest.raises(TemplateError, match=r"unsafe|undefined"):
        templates.render(sample_contexts(tree)[0])
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerting.yaml", "mine"]


@pytest.mark.parametrize("where", ["/etc", "../../..", "link"])
def test_a_template_folder_outside_the_tree_folder_is_refused(where: str, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("/etc")
    tree_file = _override(tmp_path, "", "", where=where)
    issues = [i for i in load_tree(tree_file).issues if i.code == "template_location"]
    line = tree_file.read_text(encoding="utf-8").splitlines().index(f"  templates: {where}") + 1
    assert [(i.line, i.column) for i in issues] == [(line, 14)]


def test_a_template_cannot_include_a_file_through_a_symlink(tmp_path: Path) -> None:
    secret = tmp_path / "secrets.toml"
    secret.write_text("password = 'hunter2'\n", encoding="utf-8")
    tree_file = _override(tmp_path, "subject.txt.j2", "{% include 'leak.j2' %}\n")
    (tmp_path / "mine" / "leak.j2").symlink_to(secret)
    tree = load_tree_or_raise(tree_file)
    with pytest.raises(TemplateError, match=r"leak\.j2"):
        AlertTemplates(template_dir(tree)).render(sample_contexts(tree)[0])


@pytest.mark.parametrize(
    ("template", "budget"),
    [
        ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", "loops"),
        ("{{ 'x' * 10 ** 9 }}", "longer than"),
        ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "larger"),
        ("{% for a in range(100000) %}{{ 'y' * 100 }}{% endfor %}", "writes more"),
        ("{{ ((10 ** 64) ** 64) ** 64 }}", "bits"),
    ],
)
def test_a_template_cannot_hang_or_fill_memory(template: str, budget: str, tmp_path: Path) -> None:
    tree_file = _override(tmp_path, "body.txt.j2", template)
    tree = load_tree_or_raise(tree_file)  # statically fine: budgets are met only when it runs
    with pytest.raises(TemplateError, match=budget):
        AlertTemplates(template_dir(tree)).render(sample_contexts(tree)[0])


def test_validation_reports_a_misspelled_attribute_without_rendering(runner: CliRunner, tmp_path: Path) -> None:
    text = "{% for alert in alerts %}\n{{ alert.node.titel }}\n{% endfor %}\n{{ recipient.name }}\n"
    tree_file = _override(tmp_path, "body.txt.j2", text)
    result = runner.invoke(cli, ["validate", str(tree_file)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'mine' / 'body.txt.j2'}:2:1: error [template] dict object has no attribute 'titel'" in (
        result.output
    )


# -- source files ---------------------------------------------------------------------------------

ACTIVITIES_CSV = (
    "activity_id,contact_id,account_id,rep_id,channel,kind,is_automated,source_system,external_id,occurred_at\n"
    "a1,c1,acc1,r1,call,touch,false,crm,x1,2026-08-10 12:00:00+00\n"
    "a2,c2,acc1,r1,email,touch,false,crm,x2,2026-08-11 12:00:00+00\n"
)


def _file_tree(folder: Path, file: str) -> Path:
    tree_file = folder / "alerting.yaml"
    tree_file.write_text(BASE.replace("    table: activities\n", f"    file: {file}\n"), encoding="utf-8")
    return tree_file


@pytest.mark.parametrize("file", ["../outside.csv", "/etc/passwd.csv", "link.csv"])
def test_a_source_file_outside_the_tree_folder_is_refused(file: str, tmp_path: Path) -> None:
    folder = tmp_path / "trees"
    folder.mkdir()
    (tmp_path / "outside.csv").write_text(ACTIVITIES_CSV, encoding="utf-8")
    (folder / "link.csv").symlink_to(tmp_path / "outside.csv")
    issues = [i for i in load_tree(_file_tree(folder, file)).issues if i.code == "source_location"]
    assert len(issues) == 1
    assert "resolves outside the tree file's folder" in issues[0].message


def test_a_source_file_inside_the_tree_folder_is_computed(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "touches.csv").write_text(ACTIVITIES_CSV, encoding="utf-8")
    tree_file = _file_tree(tmp_path, "data/touches.csv")
    assert load_tree(tree_file).errors == ()
    duckdb.connect(str(tmp_path / "w.duckdb")).close()
    warehouse = f"duckdb:///{tmp_path / 'w.duckdb'}"
    args = ["compute", str(tree_file), "--period", "2026-08", "--format", "json", "--no-save", "--warehouse", warehouse]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    nodes = {node["id"]: node["value"] for node in json.loads(result.stdout)["nodes"]}
    assert (nodes["touches"], nodes["calls"], nodes["emails"]) == (2, 1, 1)


# -- the terminal ---------------------------------------------------------------------------------


def test_warehouse_values_cannot_drive_the_terminal(runner: CliRunner) -> None:
    value = "ana\x1b]0;owned\x07@example.com\x1b[2J"
    tree = str(TREES / "contact_engagement_score.yaml")
    result = runner.invoke(cli, ["alerts", "route-test", tree, "product_usage", "--entity", f"csm_email={value}"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    assert "\x07" not in result.output
    assert "flagged:" in result.output


def test_rich_output_keeps_its_own_styles_and_drops_the_datas_escapes() -> None:
    out = io.StringIO()
    SafeConsole(file=out, force_terminal=True, markup=False, width=80).print(
        Text("title \x1b[2J[link=http://x]y[/link]", style="bold")
    )
    printed = out.getvalue()
    assert "\x1b[1m" in printed  # kpitree's bold
    assert "\x1b[2J" not in printed
    assert "[link=http://x]y[/link]" in printed  # markup off: printed as written, no hyperlink
