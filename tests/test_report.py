"""The attributed variance report and ``kpitree explain``, in-process on a sample warehouse; the
HTML page in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpitree.analysis.variance import build_report
from kpitree.cli.main import cli
from kpitree.periods import Comparison, Period
from kpitree.report.render import report_html, report_markdown
from kpitree.tree import MetricTree, tree_calendar
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import open_warehouse
from tests.conftest import TREES

ACTIVITY = "activity_volume_per_contact"


@pytest.fixture(scope="module")
def sample_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('report') / 'sample.duckdb'}"
    result = CliRunner().invoke(cli, ["sample-data", "--size", "20000", "--warehouse", url])
    assert result.exit_code == 0, result.output
    return url


def _report(runner: CliRunner, url: str, *args: str) -> str:
    result = runner.invoke(cli, ["report", ACTIVITY, "--period", "2026-10", "--warehouse", url, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_report_json_attributes_every_node_and_names_the_planted_branch(runner: CliRunner, sample_url: str) -> None:
    data = json.loads(_report(runner, sample_url, "--format", "json", "--trend", "3"))
    nodes = {n["id"]: n for n in data["nodes"]}
    # The sample data eats selling hours with admin work in its last month (see kpitree/sample).
    assert data["largest_gap_path"][0] == ACTIVITY
    assert data["largest_gap_path"][-1] == "selling_hours_per_rep"
    assert data["largest_gap_owners"]["responsible"] == ["sofia"]
    assert data["largest_gap_owners"]["names"]["sofia"] == "Sofia Brandt"
    assert [n["id"] for n in data["nodes"][: len(data["largest_gap_path"])]] == data["largest_gap_path"]
    for node in nodes.values():
        if node["contributions"] and node["delta"] is not None:
            total = math.fsum(c["value"] for c in node["contributions"]) + node["residual"]
            assert total == pytest.approx(node["delta"], rel=1e-9, abs=1e-9)
    assert nodes["qualifying_activities"]["method"] == "lmdi"
    assert nodes["logged_touches"]["method"] == "additive"
    leaves = [n for n in nodes.values() if not n["contributions"] and n["to_root"] is not None]
    assert math.fsum(n["to_root"] for n in leaves) == pytest.approx(nodes[ACTIVITY]["delta"], rel=1e-9)
    assert data["trend_periods"] == ["2026-08", "2026-09", "2026-10"]
    assert nodes["call_touches"]["trend"][-1] == nodes["call_touches"]["value"]
    assert nodes["call_touches"]["trend"][-2] == nodes["call_touches"]["compare_value"]
    # The seed's view of the KPI, per contact by channel: each channel's effect plus the denominator's.
    per_contact = nodes["logged_touches"]["per_view"]
    assert per_contact["denominator"] == "active_contacts"
    assert [p["child"] for p in per_contact["parts"]] == [c["child"] for c in nodes["logged_touches"]["contributions"]]
    explained = math.fsum(p["value"] for p in per_contact["parts"]) + per_contact["denominator_effect"]
    assert explained == pytest.approx(per_contact["after"] - per_contact["before"], rel=1e-9)
    # qualifying_activities is logged_touches by the capacity identity, so this is the KPI's movement.
    assert explained == pytest.approx(nodes[ACTIVITY]["delta"], rel=1e-9)


def test_report_markdown_and_csv(runner: CliRunner, sample_url: str, tmp_path: Path) -> None:
    markdown = _report(runner, sample_url, "--trend", "0")
    assert "```mermaid" in markdown
    assert "activity_volume_per_contact --> qualifying_activities" in markdown
    assert "The largest gap is Selling hours per rep" in markdown
    target = tmp_path / "out" / "report.csv"
    result = runner.invoke(
        cli, ["report", ACTIVITY, "--period", "2026-10", "--warehouse", sample_url, "--format", "csv",
              "--trend", "0", "-o", str(target)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert rows[0]["node"] == ACTIVITY
    assert rows[0]["on_largest_gap_path"] == "yes"
    assert {r["node"] for r in rows} == set(load_tree_or_raise(TREES / f"{ACTIVITY}.yaml").nodes)


def test_explain_tells_the_story_down_to_the_owner(runner: CliRunner, sample_url: str) -> None:
    result = runner.invoke(
        cli, ["explain", ACTIVITY, "call_touches", "--period", "2026-10", "--warehouse", sample_url]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Call touches fell from" in result.stdout
    assert "It sits under Activity volume per contact > Qualifying activities" in result.stdout
    assert "Owner: responsible Lena Okafor; accountable Dana Whitfield." in result.stdout
    wrong = runner.invoke(cli, ["explain", ACTIVITY, "call_touchs", "--period", "2026-10", "--warehouse", sample_url])
    assert wrong.exit_code == 1
    assert "did you mean 'call_touches'?" in wrong.output
    assert "Traceback" not in wrong.output


SCORE = "contact_engagement_score"


def test_the_score_report_splits_new_activity_from_ageing(runner: CliRunner, sample_url: str) -> None:
    args = ["--period", "2026-W43", "--warehouse", sample_url]
    report = runner.invoke(cli, ["report", SCORE, *args, "--format", "json", "--trend", "0"])
    assert report.exit_code == 0, report.output
    nodes = {n["id"]: n for n in json.loads(report.stdout)["nodes"]}
    split = nodes[SCORE]["score_change"]
    assert (split["before"], split["after"]) == (nodes[SCORE]["compare_value"], nodes[SCORE]["value"])
    assert split["ageing"] + split["new_activity"] == pytest.approx(nodes[SCORE]["delta"], abs=1e-9)
    assert split["ageing"] < 0 < split["new_activity"]  # a week of decay, and a week of new signals
    for part in split["by_type"]:
        assert part["ageing"] + part["new_activity"] == pytest.approx(nodes[part["type"]]["delta"], abs=1e-9)
    # The report reuses the computed scores and takes only the aged one; the command takes all three.
    alone = runner.invoke(cli, ["score-change", SCORE, *args, "--format", "json"])
    assert alone.exit_code == 0, alone.output
    assert json.loads(alone.stdout)["ageing"] == pytest.approx(split["ageing"])
    assert json.loads(alone.stdout)["aged"] == pytest.approx(split["aged"])
    markdown = runner.invoke(cli, ["report", SCORE, *args, "--trend", "0"]).stdout
    assert "## Contact engagement score: new activity and ageing" in markdown
    rows = {
        r["node"]: r
        for r in csv.DictReader(io.StringIO(runner.invoke(cli, ["report", SCORE, *args, "--format", "csv"]).stdout))
    }
    assert rows["product_usage"]["ageing"].startswith("-")
    assert rows["logins"]["ageing"] == ""  # split by engagement type, not by signal
    story = runner.invoke(cli, ["explain", SCORE, "human_interactions", *args]).stdout
    assert "is new activity and" in story


HOSTILE = 'Calls <script>alert("x")</script> & "friends"'


@pytest.fixture(scope="module")
def hostile_report(sample_url: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    text = (TREES / f"{ACTIVITY}.yaml").read_text()
    text = text.replace("          title: Call touches\n", f"          title: '{HOSTILE}'\n", 1)
    path = tmp_path_factory.mktemp("hostile") / f"{ACTIVITY}.yaml"
    path.write_text(text)
    tree = load_tree_or_raise(path)
    assert tree.node("call_touches").title == HOSTILE
    warehouse = open_warehouse(sample_url)
    try:
        return build_report(tree, tree_period(tree), warehouse, Comparison.PREVIOUS, trend_periods=12)
    finally:
        warehouse.dispose()


def tree_period(tree: MetricTree) -> Period:
    return tree_calendar(tree).parse("2026-10")


def test_titles_are_escaped_in_html_and_markdown(hostile_report) -> None:  # type: ignore[no-untyped-def]
    html = report_html(hostile_report)
    assert "<script>" not in html
    assert "Calls &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;friends&#34;" in html
    markdown = report_markdown(hostile_report)
    mermaid = markdown.split("```mermaid")[1].split("```")[0]
    assert "<script>" not in mermaid
    assert "Calls #lt;script#gt;alert(#quot;x#quot;)#lt;/script#gt; & #quot;friends#quot;" in mermaid


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    return found


def test_the_html_report_renders_in_headless_chromium(hostile_report, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "report.html"
    page_file.write_text(report_html(hostile_report), encoding="utf-8")
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(page_file.as_uri())
        boxes = page.locator("#tree-picture g.node").count()
        gap_boxes = page.locator("#tree-picture rect.gap").count()
        title_text = page.locator('tr[data-node="call_touches"] td').first.inner_text()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert problems == []
    assert requests == [page_file.as_uri()]  # self-contained: nothing else is fetched
    assert boxes == len(hostile_report.tree.nodes)
    assert gap_boxes == len(hostile_report.attribution.largest_gap_path)
    assert HOSTILE in title_text  # shown as text, not run
    assert dialogs == []
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_where_it_moved_names_the_planted_cell_with_its_arithmetic(runner: CliRunner, sample_url: str) -> None:
    """The sample's CRM migration (kpitree/sample): EMEA's SMB team loses selling hours in the last
    month. The report's drill of the gap node names that cell, and its contribution is the
    documented formula on totals read here with plain SQL, not through kpitree."""
    data = json.loads(_report(runner, sample_url, "--format", "json", "--trend", "1"))
    (section,) = data["where_moved"]
    assert section["node"] == "selling_hours_per_rep"
    assert section["by"] == ["team", "region"]  # the tree's drill columns rep_capacity has, via reps
    first = section["segments"][0]
    assert first["where"] == {"team": "SMB", "region": "EMEA"}
    assert first["share"] > 0.8
    path = sample_url.removeprefix("duckdb:///")
    query = """SELECT sum(selling_hours), count(DISTINCT CASE WHEN selling_hours > 0 THEN rep_id END)
               FROM rep_capacity JOIN reps USING (rep_id)
               WHERE day >= ? AND day < ? {cell}"""
    months = (("2026-09-01", "2026-10-01"), ("2026-10-01", "2026-11-01"))
    with duckdb.connect(path, read_only=True) as db:
        whole = [db.execute(query.format(cell=""), m).fetchone() for m in months]
        cell = [db.execute(query.format(cell="AND team = 'SMB' AND region = 'EMEA'"), m).fetchone() for m in months]
    (x0, d0), (x1, d1) = whole  # type: ignore[misc]
    (cx0, cd0), (cx1, cd1) = cell  # type: ignore[misc]
    expected = ((cx1 - cx0) - (x1 / d1) * (cd1 - cd0)) / d0 / 2 + ((cx1 - cx0) - (x0 / d0) * (cd1 - cd0)) / d1 / 2
    assert abs(first["contribution"] - expected) < 1e-9
    assert abs(section["explained"] + section["residual"] - section["delta"]) < 1e-9
    markdown = _report(runner, sample_url, "--format", "md", "--trend", "1")
    assert "## Selling hours per rep: where it moved" in markdown
    assert "| team=SMB, region=EMEA |" in markdown
    assert "where it moved</h2>" in _report(runner, sample_url, "--format", "html", "--trend", "1")
