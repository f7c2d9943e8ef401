"""``segment_by: COLUMN`` on a ratio: its segments found in the warehouse, not declared as branches,
told as rate and mix, and followed by the largest-gap path, the headline and the alert routing.

On the planted deals (:mod:`tests.planted_deals`), on DuckDB, SQLite and PostgreSQL (and Spark SQL
with the spark mark): every expected number is arithmetic on the planted cells."""

from __future__ import annotations

import email
import email.policy
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpitree.alert.routing import largest_gap_target
from kpitree.analysis.variance import VarianceReport, build_report
from kpitree.cli.main import cli
from kpitree.periods import Comparison
from kpitree.report.render import report_html, report_markdown
from kpitree.report.report_json import report_json
from kpitree.tree import MetricTree
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import Warehouse
from tests.conftest import FIXTURES
from tests.engines import WITH_SPARK, warehouse_with
from tests.planted_deals import REGIONS, SEGMENTS, closed, staging_deals, won

TREE = FIXTURES / "trees" / "win_rate_by_region.yaml"


@pytest.fixture(scope="module", params=WITH_SPARK)
def deals(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    with warehouse_with(request.param, tmp_path_factory.mktemp("segment_by"), staging_deals(), "deals") as warehouse:
        yield warehouse


def _report(tree: MetricTree, warehouse: Warehouse, month: str) -> VarianceReport:
    from kpitree.tree import tree_calendar

    return build_report(tree, tree_calendar(tree).parse(month), warehouse, Comparison.PREVIOUS, trend_periods=0)


def _rate(month: str, **where: str) -> float:
    return won(month, **where) / closed(month, **where)


def test_a_regions_own_rate_fall_is_the_headline_the_path_and_the_route(deals: Warehouse) -> None:
    """2026-03 -> 04: the same deals close everywhere, LATAM Mid-market wins a fifth instead of half.
    Every region keeps its share of the deals, so LATAM's part is all rate, and all of the fall."""
    tree = load_tree_or_raise(TREE)
    report = _report(tree, deals, "2026-04")
    root = report.attribution.root
    delta = _rate("2026-04") - _rate("2026-03")
    assert root.delta == pytest.approx(delta, abs=1e-12)
    view = root.segments
    assert view is not None
    assert view.reason is None
    assert view.split_by == "region"
    effects = {s.pair.label: s.effect for s in view.segments}
    assert set(effects) == set(REGIONS)
    # LATAM's rate effect: its (unchanged) share of the deals times its own rate change.
    share = closed("2026-03", region="LATAM") / closed("2026-03")
    planted = share * (_rate("2026-04", region="LATAM") - _rate("2026-03", region="LATAM"))
    assert abs(effects["LATAM"].rate - planted) < 1e-9
    assert abs(effects["LATAM"].total - delta) < 1e-9
    assert all(abs(e.mix) < 1e-12 for e in effects.values())
    assert all(abs(effects[r].total) < 1e-12 for r in REGIONS if r != "LATAM")
    assert abs(math.fsum(e.total for e in effects.values()) - delta) < 1e-9
    assert abs(view.residual) < 1e-9

    attribution = report.attribution
    step = attribution.gap_segment
    assert step is not None
    assert (step.ratio, step.split_by, step.segment.pair.label) == ("win_rate", "region", "LATAM")
    # No branch per region: the path ends at the ratio, and LATAM's own owner hears of it (the
    # Accountable, left out for LATAM, is the ratio's).
    assert attribution.largest_gap_path == ("win_rate",)
    assert attribution.gap_owners.responsible == ("lucia",)
    assert attribution.gap_owners.accountable == "vp"
    assert largest_gap_target(tree, attribution, "win_rate") == ("win_rate", "LATAM")
    markdown = report_markdown(report)
    assert "The largest gap is region LATAM" in markdown
    assert "responsible Lucia Ferreira, accountable Vera Park." in markdown
    assert "from its own win rate" in markdown
    assert "of deals closed" in markdown  # its share is a share of the ratio's denominator
    assert "## Win rate: mix and rate by region" in markdown
    assert "| Deals closed | 3,300 | 3,300 | 0 | 0 pp | 0% |" in markdown  # it did not move: no "-0%"
    assert "Win rate: mix and rate by region</h2>" in report_html(report)
    data = report_json(report)
    gap = data["largest_gap_segment"]
    assert (gap["node"], gap["segment"], gap["branch"]) == ("win_rate", "LATAM", None)
    assert gap["rate"] == pytest.approx(planted, abs=1e-9)


def test_the_alert_names_the_region_and_goes_to_the_ratios_owner(tmp_path: Path) -> None:
    """The run's alert on the win rate goes to LATAM's owner (the VP in copy) and says which region
    moved it, and how."""
    warehouse = tmp_path / "deals.duckdb"
    db = staging_deals()
    db.execute(f"ATTACH '{warehouse}' AS w")
    db.execute("CREATE TABLE w.deals AS SELECT * FROM deals")
    db.close()
    outbox = tmp_path / "outbox"
    args = ["run", str(TREE), "--period", "2026-04", "--warehouse", f"duckdb:///{warehouse}"]
    args += ["--state-db", f"sqlite:///{tmp_path / 'state.db'}", "--files-only", "--outbox-dir", str(outbox)]
    result = CliRunner().invoke(cli, [*args, "--reports-dir", str(tmp_path / "reports")])
    assert result.exit_code == 0, result.output
    messages = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in outbox.glob("*.eml")]
    alerts = [m for m in messages if "Win rate" in str(m["Subject"])]
    assert len(alerts) == 1
    assert "lucia.ferreira@example.com" in str(alerts[0]["To"])
    assert "vera.park@example.com" in str(alerts[0]["Cc"])
    body = alerts[0].get_body(preferencelist=("plain",))
    assert body is not None
    text = " ".join(body.get_content().split())
    assert re.search(
        r"Where it moved: Win rate -2\.8 pp, 100% of it region=LATAM \(-2\.8 pp its own rate, [+-]?0 pp its share\)",
        text,
    ), text


def test_a_pure_mix_shift_by_segment_is_all_mix(tmp_path: Path, deals: Warehouse) -> None:
    """2026-05 -> 06: each segment wins at its own constant rate while deals move from SMB to
    Enterprise: by segment, every rate effect is 0 and the mix effects add up to the movement."""
    tree_file = tmp_path / "by_segment.yaml"
    tree_file.write_text(TREE.read_text().replace("segment_by: region", "segment_by: segment"))
    report = _report(load_tree_or_raise(tree_file), deals, "2026-06")
    view = report.attribution.root.segments
    assert view is not None
    assert {s.pair.label for s in view.segments} == set(SEGMENTS)
    delta = _rate("2026-06") - _rate("2026-05")
    assert delta > 0  # more of the deals are Enterprise's, which wins half of them
    assert all(abs(s.effect.rate) < 1e-12 for s in view.segments)
    assert abs(math.fsum(s.effect.mix for s in view.segments) - delta) < 1e-9
    assert abs(math.fsum(s.effect.total for s in view.segments) - delta) < 1e-9
    assert report.attribution.gap_segment is None  # nothing moved it the bad way


def _validate(tmp_path: Path, text: str, on_closed_deals: str) -> tuple[str, str, list[str]]:
    """``kpitree validate`` of the test tree rewritten to ``text``, with ``on_closed_deals`` added to
    the closed_deals measure: (the file's name, the output, the file's lines), having exited 1."""
    bad = tmp_path / "bad.yaml"
    measure = "    measure: {source: deals, agg: count}\n"
    text = text.replace(measure, f"{measure}    {on_closed_deals}\n")
    bad.write_text(text)
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "Traceback" not in result.stdout
    return str(bad), result.stdout, text.splitlines()


def _line(lines: list[str], fragment: str) -> int:
    return next(i for i, line in enumerate(lines, 1) if fragment in line)


def test_segment_by_must_be_a_ratio_over_a_known_column(tmp_path: Path) -> None:
    text = TREE.read_text().replace("segment_by: region", "segment_by: regoin")
    bad, out, lines = _validate(tmp_path, text, "segment_by: region")
    assert f"{bad}:{_line(lines, 'segment_by: regoin')}:" in out
    assert "segment_by column 'regoin'" in out
    assert "did you mean 'region'" in out.lower()
    assert f"{bad}:{next(i for i, line in enumerate(lines, 1) if line.strip() == 'segment_by: region')}:" in out
    assert "has segment_by but no formula" in out


def test_segment_owners_are_checked_like_any_owners(tmp_path: Path) -> None:
    text = TREE.read_text().replace("LATAM: {responsible: [lucia]}", "LATAM: {responsible: [lucy], accountable: []}")
    bad, out, lines = _validate(tmp_path, text, "segment_owners: {EMEA: {responsible: [ops]}}")
    assert f"{bad}:{_line(lines, 'LATAM:')}:" in out
    assert "owner 'lucy' is not a person or team" in out
    assert "segment 'LATAM' of 'win_rate' has no Accountable" in out
    assert f"{bad}:{_line(lines, 'segment_owners: {EMEA')}:" in out
    assert "has segment_owners but no segment_by" in out


def test_a_ratio_that_cannot_be_cut_says_why(tmp_path: Path, deals: Warehouse) -> None:
    """A ratio of a maximum over a count is not a ratio of two sums: its view carries the reason,
    and the report still runs."""
    tree_file = tmp_path / "avg.yaml"
    text = TREE.read_text().replace("formula: won_deals / closed_deals", "formula: deal_size / closed_deals")
    text += (
        "  - id: deal_size\n    title: Average deal size\n    unit: EUR\n"
        "    measure: {source: deals, agg: max, column: amount}\n"
    )
    tree_file.write_text(
        text.replace("  - id: won_deals", "  - id: won_deals_unused").replace("won_deals_unused", "won_deals")
    )
    report = _report(load_tree_or_raise(tree_file), deals, "2026-04")
    view = report.attribution.root.segments
    assert view is not None
    assert view.reason is not None
    assert "not cut" in view.reason
