"""``kpitree drill`` on planted movements of known size, on DuckDB, SQLite, PostgreSQL and Spark SQL.

The deals are planted (:mod:`tests.planted_deals`):

* 2026-01 -> 02: deals closed fall by 2 x 60 in the (EMEA, SMB) cell, every other cell is flat but
  one that gains 3 (NA, Enterprise, web): a drill by region, segment and channel names
  ``region=EMEA, segment=SMB`` first, with -120.
* 2026-03 -> 04: a pure rate change: the same deals closed in every cell, won deals in (LATAM,
  Mid-market) fall from half to a fifth: every mix effect is 0, LATAM Mid-market's rate effect is
  the whole movement.
* 2026-05 -> 06: a pure mix shift: each segment wins at its own constant rate (SMB 20%, Mid-market
  30%, Enterprise 50%), and deals move from SMB to Enterprise: every rate effect by segment is 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kpitree.analysis.drill import OTHER, Drill, SegmentChange, cover
from kpitree.analysis.drill_run import DrillRun, drill_periods
from kpitree.cli.main import cli
from kpitree.periods import Comparison
from kpitree.tree import MetricTree, tree_calendar
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import Warehouse
from tests.conftest import FIXTURES
from tests.engines import WITH_SPARK, warehouse_with
from tests.planted_deals import SEGMENTS, closed, staging_deals, won

TREE = FIXTURES / "trees" / "deals_by_region.yaml"


@pytest.fixture(scope="module", params=WITH_SPARK)
def deals(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    with warehouse_with(request.param, tmp_path_factory.mktemp("drill"), staging_deals(), "deals") as warehouse:
        yield warehouse


@pytest.fixture(scope="module")
def tree() -> MetricTree:
    return load_tree_or_raise(TREE)


def _drill(tree: MetricTree, warehouse: Warehouse, node: str, month: str, by: tuple[str, ...], depth: int = 2) -> Drill:
    return _run(tree, warehouse, node, month, by, depth).drills[node]


def _run(tree: MetricTree, warehouse: Warehouse, node: str, month: str, by: tuple[str, ...], depth: int) -> DrillRun:
    period = tree_calendar(tree).parse(month)
    return drill_periods(tree, {node: by}, period, Comparison.PREVIOUS, warehouse, depth=depth)


def _sums_by_set(drill: Drill) -> dict[tuple[str, ...], float]:
    sums: dict[tuple[str, ...], list[float]] = {}
    for segment in drill.segments:
        sums.setdefault(segment.dimensions, []).append(segment.contribution)
    return {dims: math.fsum(values) for dims, values in sums.items()}


def test_a_fall_in_one_cell_is_named_first_with_its_planted_size(tree: MetricTree, deals: Warehouse) -> None:
    drill = _drill(tree, deals, "closed_deals", "2026-02", ("region", "segment", "channel"))
    planted = closed("2026-02", region="EMEA", segment="SMB") - closed("2026-01", region="EMEA", segment="SMB")
    assert planted == -120
    assert drill.delta == closed("2026-02") - closed("2026-01") == -117
    first = drill.cover[0]
    assert first.where == (("region", "EMEA"), ("segment", "SMB"))
    assert abs(first.contribution - planted) < 1e-9
    assert drill.share(first) == pytest.approx(120 / 117, abs=1e-12)
    # The cover stops once it explains the movement; what it leaves is the +3 elsewhere.
    assert abs(drill.residual - 3) < 1e-9
    for dims, total in _sums_by_set(drill).items():  # every cut of the population adds up exactly
        assert abs(total - drill.delta) < 1e-9, dims


def test_a_pure_rate_change_is_all_rate(tree: MetricTree, deals: Warehouse) -> None:
    drill = _drill(tree, deals, "win_rate", "2026-04", ("region", "segment"))
    cell = {"region": "LATAM", "segment": "Mid-market"}
    before = won("2026-03") / closed("2026-03")
    after = won("2026-04") / closed("2026-04")
    assert drill.delta is not None
    assert abs(drill.delta - (after - before)) < 1e-12
    for segment in drill.segments:
        assert segment.mix is not None
        assert abs(segment.mix) < 1e-12, segment.where
    first = drill.cover[0]
    assert dict(first.where) == cell
    # Its own rate change at its (constant) share of the deals: (won1 - won0) / closed.
    planted = (won("2026-04", **cell) - won("2026-03", **cell)) / closed("2026-03")
    assert first.rate is not None
    assert abs(first.rate - planted) < 1e-12
    assert abs(first.contribution - (after - before)) < 1e-12
    for total in _sums_by_set(drill).values():
        assert abs(total - drill.delta) < 1e-12


def test_a_pure_mix_shift_is_all_mix(tree: MetricTree, deals: Warehouse) -> None:
    drill = _drill(tree, deals, "win_rate", "2026-06", ("segment",), depth=1)
    before = won("2026-05") / closed("2026-05")
    after = won("2026-06") / closed("2026-06")
    assert drill.delta is not None
    assert abs(drill.delta - (after - before)) < 1e-12
    assert drill.delta > 0  # deals moved to the segment that wins most
    for segment in drill.segments:
        assert segment.rate is not None
        assert abs(segment.rate) < 1e-12, segment.where
        assert segment.mix is not None
        assert abs(segment.mix - segment.contribution) < 1e-12
    assert abs(math.fsum(s.contribution for s in drill.segments) - drill.delta) < 1e-12
    # Enterprise gained share at the highest rate, SMB lost share at the lowest: both raised it.
    by_segment = {s.where[0][1]: s.contribution for s in drill.segments}
    assert by_segment["Enterprise"] > 0
    assert by_segment["SMB"] > 0


def test_an_average_is_drilled_as_its_sum_over_its_count(tree: MetricTree, deals: Warehouse) -> None:
    drill = _drill(tree, deals, "deal_size", "2026-02", ("region",), depth=1)
    assert drill.is_ratio
    assert drill.delta is not None
    assert abs(math.fsum(s.contribution for s in drill.segments) - drill.delta) < 1e-9


def test_sqlite_reads_the_sets_as_a_union(tree: MetricTree, deals: Warehouse) -> None:
    run = _run(tree, deals, "closed_deals", "2026-02", ("region", "segment"), 2)
    (statement,) = run.statements
    if deals.dialect.has_grouping_sets:
        assert "GROUPING SETS" in statement.upper()
    else:
        assert "UNION ALL" in statement.upper()
        assert "GROUPING SETS" not in statement.upper()


def test_small_segments_are_summed_not_dropped(tree: MetricTree, deals: Warehouse) -> None:
    period = tree_calendar(tree).parse("2026-02")
    run = drill_periods(tree, {"closed_deals": ("channel",)}, period, Comparison.PREVIOUS, deals, 1, min_rows=10_000)
    drill = run.drills["closed_deals"]
    assert [s.where for s in drill.segments] == [(("channel", OTHER),)]
    assert abs(drill.segments[0].contribution - drill.delta) < 1e-9  # type: ignore[operator]
    assert drill.cover == ()  # an (other) segment is counted, never named


def _cli(*args: str, warehouse: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--warehouse", warehouse])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def duckdb_deals(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("drill_cli")
    with warehouse_with("duckdb", directory, staging_deals(), "deals"):
        pass
    return f"duckdb:///{directory / 'warehouse.duckdb'}"


def test_cli_json_names_the_cell_with_the_documented_keys(duckdb_deals: str) -> None:
    code, out, err = _cli(
        "drill", str(TREE), "closed_deals", "--period", "2026-02", "--format", "json", warehouse=duckdb_deals
    )
    assert code == 0, err
    data = json.loads(out)
    assert {"tree", "node", "period", "compare", "delta", "segments", "explained", "residual"} <= set(data)
    assert data["by"] == ["region", "segment", "channel"]  # the tree's drill: columns
    assert (data["period"], data["compare"], data["delta"]) == ("2026-02", "2026-01", -117)
    first = data["segments"][0]
    assert first["where"] == {"region": "EMEA", "segment": "SMB"}
    assert first["contribution"] == -120
    assert first["effects"] is None
    assert data["explained"] + data["residual"] == pytest.approx(data["delta"], abs=1e-9)


def test_cli_text_and_markdown_name_the_cell(duckdb_deals: str) -> None:
    code, out, _ = _cli(
        "drill", str(TREE), "win_rate", "--period", "2026-04", "--by", "region,segment", warehouse=duckdb_deals
    )
    assert code == 0
    assert "region=LATAM, segment=Mid-market" in out.split("Largest segments")[0]
    code, out, _ = _cli(
        "drill",
        str(TREE),
        "win_rate",
        "--period",
        "2026-04",
        "--by",
        "region,segment",
        "--format",
        "md",
        warehouse=duckdb_deals,
    )
    assert code == 0
    assert "| region=LATAM, segment=Mid-market |" in out
    assert "| rate | mix |" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("median_size",), "cannot be cut by segment"),
        (("closed_deals", "--by", "colour"), "has no column 'colour'"),
        (("no_such_node",), "has no node 'no_such_node'"),
        (("closed_deals", "--compare", "yoy", "--period", "2025-06"), ""),
    ],
)
def test_cli_errors_are_one_clear_line(duckdb_deals: str, args: tuple[str, ...], message: str) -> None:
    code, out, err = _cli("drill", str(TREE), *args, warehouse=duckdb_deals)
    if not message:  # no deals in either period: nothing moved, and the drill says so
        assert code == 0
        assert "did not move" in out
        return
    assert code == 1
    assert message in err
    assert "Traceback" not in err


def test_a_drill_column_the_sources_lack_is_a_tree_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TREE.read_text().replace("drill: [region, segment, channel]", "drill: [region, colour]"))
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:6:" in result.stdout
    assert "drill column 'colour'" in result.stdout


def test_a_distinct_count_is_cut_row_by_row_and_its_overlap_is_said(tree: MetricTree, deals: Warehouse) -> None:
    # Every region closes deals in every segment: by segment, each segment counts all four regions,
    # so the segments add up to twelve, not four. The drill says so rather than adding them up.
    run = _run(tree, deals, "selling_regions", "2026-02", ("segment",), 1)
    drill = run.drills["selling_regions"]
    assert (drill.before, drill.after) == (4, 4)
    assert {s.where: s.after for s in drill.segments} == {(("segment", s),): 4 for s in SEGMENTS}
    assert drill.reason == "the node did not move"
    assert "WITH finest" not in run.statements[0]  # distinct counts are not rolled up from cells


def test_distinct_counts_that_overlap_get_a_note(tree: MetricTree, deals: Warehouse) -> None:
    # 2026-01 -> 03: both months have every region; a channel drill of the regions still overlaps.
    period = tree_calendar(tree).parse("2026-02")
    run = drill_periods(tree, {"selling_regions": ("channel",)}, period, Comparison.YOY, deals, 1)
    drill = run.drills["selling_regions"]
    assert drill.delta == 4  # none a year before
    assert any("add up to 8" in note for note in drill.notes)
    assert abs(drill.explained + drill.residual - 4) < 1e-12


def _segment(contribution: float, rows: tuple[int, int], **where: str) -> SegmentChange:
    return SegmentChange(tuple(where.items()), None, None, contribution, None, None, *rows)


def test_the_cover_keeps_the_shorter_name_of_one_population() -> None:
    """Only the SMB team sells to SMB accounts: "segment=SMB, team=SMB" has every row of
    "segment=SMB", so it is the same population and the cover names "segment=SMB". A sub-segment
    with fewer rows that carries the fall ("segment=SMB, region=EMEA") is still taken."""
    same = [
        _segment(-100.0, (50, 40), segment="SMB"),
        _segment(-100.0, (50, 40), team="SMB"),
        _segment(-100.0, (50, 40), segment="SMB", team="SMB"),
        _segment(-30.0, (20, 15), segment="SMB", region="NA"),
        _segment(-70.0, (30, 25), segment="SMB", region="EMEA"),
    ]
    assert [c.label for c in cover(same, -100.0)] == ["segment=SMB"]
    # Every pair of a real drill is there: the SMB team's EMEA cell is the SMB segment's.
    cells = {"NA": (-10.0, (20, 19)), "EMEA": (-90.0, (30, 21))}
    focused = [*same[:3]] + [
        _segment(value, rows, **{dim: "SMB", "region": region})
        for region, (value, rows) in cells.items()
        for dim in ("segment", "team")
    ]
    assert [c.label for c in cover(focused, -100.0)] == ["segment=SMB, region=EMEA"]
