"""Every node of every example tree (trees/examples), computed by kpitree from the raw CRM exports,
against plain Python over the same CSVs (tests/crm_reference.py): to 1e-9, on DuckDB and
PostgreSQL and Spark SQL, and on SQLite where it can (it has no median or percentile, and says so)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kpitree.cli.main import cli
from kpitree.sample.crm import CrmSpec, load_crm_exports, write_crm_exports
from kpitree.warehouse import open_warehouse
from tests.conftest import ROOT
from tests.crm_reference import REFERENCE, Month
from tests.engines import WITH_SPARK, engine_url

EXAMPLES = ROOT / "trees" / "examples"
TREES = sorted(EXAMPLES.glob("*.yaml"))
ORDER_STATISTICS = {"lead_response_time", "lead_response_p90"}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crm")
    write_crm_exports(CrmSpec(seed=5, accounts=80, leads_per_month=200), folder)
    return folder


@contextmanager
def loaded(engine: str, exports: Path, folder: Path) -> Iterator[str]:
    """The exports loaded as ``kpitree sample-data --crm`` loads them, on ``engine``."""
    with engine_url(engine, folder) as url:
        warehouse = open_warehouse(url, writable=True)
        load_crm_exports(exports, warehouse)
        warehouse.dispose()
        yield url


@pytest.fixture(params=WITH_SPARK)
def crm_url(request: pytest.FixtureRequest, exports: Path, tmp_path: Path) -> Iterator[str]:
    with loaded(str(request.param), exports, tmp_path) as url:
        yield url


def test_every_example_tree_validates_clean(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", "--strict", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert f"{len(TREES)} file(s) checked: 0 error(s), 0 warning(s)" in result.output
    assert {path.stem for path in TREES} == set(REFERENCE)


def test_every_node_of_every_example_matches_python(runner: CliRunner, exports: Path, crm_url: str) -> None:
    october, september = Month(2026, 10), Month(2026, 9)
    dialect = crm_url.split(":")[0].split("+")[0]
    checked = 0
    for tree in TREES:
        args = ["compute", str(tree), "--period", "2026-10", "--format", "json", "--no-save", "--warehouse", crm_url]
        result = runner.invoke(cli, args)
        if dialect == "sqlite" and tree.stem in ORDER_STATISTICS:
            assert result.exit_code == 1
            assert "needs a percentile function, which SQLite lacks" in result.stderr
            continue
        assert result.exit_code == 0, f"{tree.stem}: {result.output}"
        nodes = {n["id"]: n for n in json.loads(result.stdout)["nodes"]}
        expected_now, expected_before = REFERENCE[tree.stem](exports, october), REFERENCE[tree.stem](exports, september)
        assert set(expected_now) == set(nodes), tree.stem
        for node_id, node in nodes.items():
            for got, want in (
                (node["value"], expected_now[node_id]),
                (node["compare_value"], expected_before[node_id]),
            ):
                if want is None:
                    assert got is None, f"{tree.stem}.{node_id}"
                else:
                    assert got == pytest.approx(want, rel=1e-9, abs=1e-9), f"{tree.stem}.{node_id}"
                checked += 1
    assert checked >= 80


@pytest.mark.parametrize("engine_name", ["duckdb", "postgresql"])  # SQLite has no median
def test_the_example_reports_find_the_planted_movements(
    runner: CliRunner, exports: Path, tmp_path: Path, engine_name: str
) -> None:
    with loaded(engine_name, exports, tmp_path) as url:
        _find_planted(runner, url)


def _find_planted(runner: CliRunner, crm_url: str) -> None:
    """What kpitree/sample/crm.py plants in the last month, found where a reader would look for it."""

    def report(tree: str, form: str) -> str:
        args = ["report", str(EXAMPLES / f"{tree}.yaml"), "--period", "2026-10", "--format", form]
        result = runner.invoke(cli, [*args, "--warehouse", crm_url])
        assert result.exit_code == 0, result.output
        return result.stdout

    def nodes(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {n["id"]: n for n in data["nodes"]}

    def worst_segment(node: dict[str, Any]) -> dict[str, Any]:
        segment: dict[str, Any] = min(node["segments"]["segments"], key=lambda s: s["total"])
        return segment

    # LATAM's own win rate halves: the largest gap ends at LATAM, and the mix-and-rate view of the
    # percent-displayed ratio calls it a rate effect, not a share one.
    win = json.loads(report("win_rate", "json"))
    # The path goes through the ratio's segments, not its numerator: it ends at LATAM's branch.
    assert win["largest_gap_path"] == ["win_rate", "won_latam"]
    assert win["largest_gap_segment"]["segment"] == "LATAM"
    latam = worst_segment(nodes(win)["win_rate"])
    assert latam["segment"] == "LATAM"
    assert latam["rate"] < 0
    assert abs(latam["rate"]) > 3 * abs(latam["mix"])
    assert "The largest gap is Region LATAM" in report("win_rate", "md")

    # Partner leads wait twice as long: the median's branches are shown, not summed, and Partner's
    # rose most; the headline names it.
    response = nodes(json.loads(report("lead_response_time", "json")))
    rises = {n: response[n]["delta"] for n in ("web_response", "partner_response", "event_response")}
    assert max(rises, key=lambda n: rises[n]) == "partner_response"
    assert response["partner_response"]["value"] > 1.25 * response["partner_response"]["compare_value"]
    assert "the branch that moved most the bad way: Partner" in report("lead_response_time", "md")

    # The October newsletter's opens fall: the gap is the opened emails, not the delivered ones.
    opens = json.loads(report("email_open_rate", "json"))
    assert opens["largest_gap_path"] == ["email_open_rate", "opened_emails"]
    assert nodes(opens)["email_open_rate"]["delta"] < -0.1

    # Starter accounts stop using reports: by plan, Starter's own rate.
    starter = worst_segment(nodes(json.loads(report("feature_adoption", "json")))["feature_adoption_rate"])
    assert starter["segment"] == "Starter"
    assert starter["rate"] < 0

    # Eight customers churn: logo retention and NRR fall, through the retained side.
    for tree, retained in (("logo_retention", "retained_customers"), ("net_revenue_retention", "retained_mrr")):
        data = json.loads(report(tree, "json"))
        assert data["nodes"][0]["delta"] < 0, tree
        assert data["largest_gap_path"] == [tree, retained]

    # One rep stops logging calls: the gap is Calls.
    assert json.loads(report("activity_per_rep", "json"))["largest_gap_path"][-1] == "calls"


def test_typos_in_the_new_keys_get_did_you_mean_at_their_line(runner: CliRunner, tmp_path: Path) -> None:
    """valid_from, display, at and cohort's entity, misspelt in a real example tree: each named at
    its own line with the key it should be, and nothing else reported in their wake."""
    text = (EXAMPLES / "net_revenue_retention.yaml").read_text(encoding="utf-8")
    typos = {
        "valid_from:": "valid_form:",
        "display: percent": "dispaly: percent",
        "entity: customer": "entty: customer",
    }
    for right, wrong in typos.items():
        assert right in text
        text = text.replace(right, wrong, 1)
    text = text.replace("at: end,", "at: ends,", 1)
    tree = tmp_path / "nrr.yaml"
    tree.write_text(text, encoding="utf-8")
    result = runner.invoke(cli, ["validate", "--format", "json", str(tree)])
    assert result.exit_code == 1
    issues = json.loads(result.stdout)["issues"]
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(n for n, line in enumerate(lines, 1) if fragment in line)

    found = {(i["line"], i["code"], i["hint"]) for i in issues}
    assert (line_of("valid_form:"), "unknown_key", "did you mean 'valid_from'?") in found
    assert (line_of("dispaly:"), "unknown_key", "did you mean 'display'?") in found
    assert (line_of("entty:"), "unknown_key", "did you mean 'entity'?") in found
    assert (line_of("at: ends"), "invalid_choice", "use one of: 'start' or 'end'") in found
    # the source's missing valid_from is said once, on the source, not again on every measure
    assert [i["code"] for i in issues].count("missing_key") == 2  # valid_from on the source, entity on the cohort
    assert "no_time_column" not in {i["code"] for i in issues}


def test_docs_examples_quote_what_the_reports_say(runner: CliRunner, tmp_path: Path) -> None:
    """docs/examples.md quotes each tree's headline on the default sample: kept in step with kpitree."""
    doc = (ROOT / "docs" / "examples.md").read_text(encoding="utf-8")
    quoted = {}
    for section in doc.split("\n### `")[1:]:
        tree = section.split(".yaml`", 1)[0]
        quoted[tree] = next(line[2:] for line in section.splitlines() if line.startswith("> "))
    assert set(quoted) == {tree.stem for tree in TREES}
    exports = tmp_path / "exports"
    url = f"duckdb:///{tmp_path / 'crm.duckdb'}"
    made = runner.invoke(cli, ["sample-data", "--crm", str(exports), "--warehouse", url])
    assert made.exit_code == 0, made.output
    for tree, headline in quoted.items():
        args = ["report", str(EXAMPLES / f"{tree}.yaml"), "--period", "2026-10", "--format", "md", "--warehouse", url]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines()[2] == headline, tree
