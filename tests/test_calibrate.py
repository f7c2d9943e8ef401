"""Calibration on data generated from known weights: the back-test recovers their ranking, the true
half-life, and an AUC within 0.02 of the true model's, on every warehouse engine."""

from __future__ import annotations

import csv
import math
import random
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from click.testing import CliRunner

from kpitree.calibrate.backtest import CalibrationRequest, calibrate
from kpitree.calibrate.outcomes import read_outcomes
from kpitree.calibrate.render import supported
from kpitree.calibrate.stats import auc, cost_cutoff, fit_logistic, youden_cutoff
from kpitree.cli.main import cli
from kpitree.errors import UsageError
from kpitree.scoring import decay_factor
from kpitree.spec.models.nodes import DecaySpec
from kpitree.tree import MetricTree
from kpitree.tree_files import load_tree_or_raise
from tests.engines import warehouse_with

TRUE_WEIGHTS = {"demo": 1.2, "login": 0.6, "reply": 0.3, "open": 0.05}  # log-odds per decayed signal
MOST = {"demo": 3, "login": 8, "reply": 5, "open": 12}  # events per contact: 0 up to this many
INTERCEPT = -2.0
TRUE_DECAY = DecaySpec(mode="step", half_life_days=14)
TRAIN_AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
HORIZON = timedelta(days=90)
CONTACTS = 2000  # per window

TREE = """
tree: synthetic_score
title: Synthetic score
root: score
grain: week
timezone: UTC
people:
  - {id: owner, name: Owner, email: owner@example.com}
sources:
  signals: {table: signals, contract: signals}
nodes:
  - id: score
    title: Score
    unit: points
    direction: higher_is_better
    owners: {accountable: owner}
    score:
      source: signals
      entity: contact_id
      signal_column: signal_type
      lookback_days: 365
      decay: {mode: step, half_life_days: 30}   # a wrong guess: the data halve every 14 days
      normalisation: {method: clip, max_points: 10000}
      bands:
        - {name: Low, low: 0, high: 19}
        - {name: Middle, low: 20, high: 39}
        - {name: High, low: 40}
      types:
        - id: all_signals
          title: All signals
          owners: {accountable: owner}
          signals:
            - {id: demos, title: Demos, signal: demo, weight: 1}
            - {id: logins, title: Logins, signal: login, weight: 1}
            - {id: replies, title: Replies, signal: reply, weight: 1}
            - {id: opens, title: Opens, signal: open, weight: 1}
"""
SIGNAL_NODES = {"demos": "demo", "logins": "login", "replies": "reply", "opens": "open"}


def _world(seed: int) -> tuple[duckdb.DuckDBPyConnection, dict[datetime, tuple[list[float], list[bool]]]]:
    """Signals and outcomes for two windows; per window the true model's predictor and outcomes."""
    rng = random.Random(seed)
    staging = duckdb.connect()
    staging.execute("SET TimeZone = 'UTC'")
    staging.execute(
        "CREATE TABLE signals (signal_id VARCHAR, contact_id VARCHAR, account_id VARCHAR, signal_type VARCHAR, "
        "occurred_at TIMESTAMPTZ, quantity DOUBLE)"
    )
    staging.execute(
        "CREATE TABLE outcomes (contact_id VARCHAR, account_id VARCHAR, outcome VARCHAR, decided_at TIMESTAMPTZ)"
    )
    signals, outcomes = [], []
    truth: dict[datetime, tuple[list[float], list[bool]]] = {}
    for window, as_of in enumerate((TRAIN_AS_OF, TRAIN_AS_OF + HORIZON)):
        predictors, goods = [], []
        for n in range(CONTACTS):
            contact = f"w{window}-c{n:05d}"
            z = INTERCEPT
            for kind, most in MOST.items():
                for k in range(rng.randint(0, most)):
                    when = as_of - timedelta(seconds=rng.uniform(60, 100 * 86400))
                    signals.append((f"{contact}-{kind}-{k}", contact, "acc-1", kind, when, None))
                    z += TRUE_WEIGHTS[kind] * decay_factor((as_of - when) / timedelta(days=1), TRUE_DECAY)
            good = rng.random() < 1 / (1 + math.exp(-z))
            decided = as_of + timedelta(days=rng.uniform(1, 89))
            outcomes.append((contact, "acc-1", "renewed" if good else "churned", decided))
            predictors.append(z)
            goods.append(good)
        truth[as_of] = (predictors, goods)
    _load(staging, "signals", signals)
    _load(staging, "outcomes", outcomes)
    return staging, truth


def _load(staging: duckdb.DuckDBPyConnection, table: str, rows: Sequence[tuple[object, ...]]) -> None:
    """Through a CSV file: DuckDB's executemany takes a minute for the 40,000 signal rows."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"{table}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(
                [value.isoformat() if isinstance(value, datetime) else value for value in row] for row in rows
            )
        staging.execute(f"INSERT INTO {table} SELECT * FROM read_csv('{path}', header = false, nullstr = '')")


@pytest.fixture(scope="module")
def world() -> tuple[duckdb.DuckDBPyConnection, dict[datetime, tuple[list[float], list[bool]]]]:
    return _world(seed=3)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> MetricTree:
    path = tmp_path_factory.mktemp("tree") / "synthetic_score.yaml"
    path.write_text(TREE, encoding="utf-8")
    return load_tree_or_raise(path)


def test_calibration_recovers_the_true_weights_ranking_half_life_and_auc(
    engine: str,
    tmp_path: Path,
    world: tuple[duckdb.DuckDBPyConnection, dict[datetime, tuple[list[float], list[bool]]]],
    tree: MetricTree,
) -> None:
    staging, truth = world
    with warehouse_with(engine, tmp_path, staging, "signals", "outcomes") as warehouse:
        outcomes = read_outcomes("outcomes", warehouse, tree.timezone)
        result = calibrate(
            tree, tree.nodes["score"], outcomes, CalibrationRequest(TRAIN_AS_OF, HORIZON, (7.0, 14.0, 28.0)), warehouse
        )
    assert (outcomes.level, outcomes.rejected) == ("contact", 0)
    assert len(result.train.ids) == CONTACTS
    assert result.best_half_life == 14.0
    by_weight = sorted(SIGNAL_NODES, key=lambda s: result.suggested_weights[s])
    assert by_weight == sorted(SIGNAL_NODES, key=lambda s: TRUE_WEIGHTS[SIGNAL_NODES[s]])
    assert result.validation is not None
    predictors, goods = truth[TRAIN_AS_OF + HORIZON]
    true_auc = auc(predictors, goods)
    assert true_auc is not None
    assert result.validation.suggested.auc is not None
    assert abs(result.validation.suggested.auc - true_auc) <= 0.02
    # equal weights of 1 are far from the truth for the strongest and the weakest signal: 2000
    # contacts are enough for the intervals to say so
    assert all(result.weight_intervals[s] is not None for s in SIGNAL_NODES)
    assert supported(result, "demos")
    assert supported(result, "opens")
    # the equal-weights, 30-day guess ranks worse than what calibration suggests
    assert result.validation.current.auc is not None
    assert result.validation.current.auc < result.validation.suggested.auc


def test_a_too_early_as_of_is_refused_with_a_hint(
    tmp_path: Path,
    world: tuple[duckdb.DuckDBPyConnection, dict[datetime, tuple[list[float], list[bool]]]],
    tree: MetricTree,
) -> None:
    staging, _truth = world
    with warehouse_with("duckdb", tmp_path, staging, "signals", "outcomes") as warehouse:
        outcomes = read_outcomes("outcomes", warehouse, tree.timezone)
        request = CalibrationRequest(TRAIN_AS_OF - timedelta(days=365), HORIZON)
        with pytest.raises(UsageError, match="needs 10 of each") as raised:
            calibrate(tree, tree.nodes["score"], outcomes, request, warehouse)
    assert raised.value.hint is not None
    assert "--as-of" in raised.value.hint


def test_bad_outcome_rows_are_reported_by_row_number(tmp_path: Path) -> None:
    csv = tmp_path / "outcomes.csv"
    csv.write_text(
        "contact_id,outcome,decided_at\n"
        "c1,renewed,2026-04-01\n"
        ",churned,2026-04-02\n"
        "c3,pending,2026-04-03\n"
        "c4,churned,not a date\n",
        encoding="utf-8",
    )
    found = read_outcomes(str(csv), None, "UTC")  # a file needs no warehouse
    assert [o.entity for o in found.outcomes] == ["c1"]
    assert found.rejected == 3
    assert found.reasons[0] == "row 3: no contact_id"
    assert found.reasons[1].startswith("row 4: outcome 'pending' is neither good")
    assert found.reasons[2] == "row 5: decided_at is missing or not a date"


def test_auc_matches_the_count_of_ordered_pairs() -> None:
    rng = random.Random(5)
    scores = [rng.choice([1.0, 2.0, 3.0, 4.0]) for _ in range(60)]
    good = [rng.random() < 0.4 + 0.1 * s for s in scores]
    pairs = [
        (p, n) for p, gp in zip(scores, good, strict=True) if gp for n, gn in zip(scores, good, strict=True) if not gn
    ]
    expected = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    assert auc(scores, good) == pytest.approx(expected)


def test_cut_offs_separate_a_clean_split() -> None:
    scores = [float(s) for s in range(20)]
    good = [s >= 12 for s in range(20)]
    assert youden_cutoff(scores, good) == 12.0
    assert cost_cutoff(scores, good, miss_cost=5) == 12.0
    noisy = [*good[:11], True, *good[12:]]  # one renewer at 11
    assert cost_cutoff(scores, noisy, miss_cost=5) == 11.0  # missing no churner beats one needless play


def test_logistic_regression_recovers_known_coefficients() -> None:
    rng = random.Random(9)
    rows = [[rng.uniform(0, 4), rng.uniform(0, 4)] for _ in range(4000)]
    good = [rng.random() < 1 / (1 + math.exp(-(-1.0 + 0.8 * a - 0.4 * b))) for a, b in rows]
    fit = fit_logistic(rows, good)
    assert fit.intercept == pytest.approx(-1.0, abs=0.2)
    assert fit.coefficients[0] == pytest.approx(0.8, abs=0.1)
    assert fit.coefficients[1] == pytest.approx(-0.4, abs=0.1)


def test_the_cli_reports_draws_and_writes_keeping_comments(
    tmp_path: Path, world: tuple[duckdb.DuckDBPyConnection, dict[datetime, tuple[list[float], list[bool]]]]
) -> None:
    staging, _truth = world
    trees = tmp_path / "trees"
    trees.mkdir()
    tree_file = trees / "synthetic_score.yaml"
    tree_file.write_text(TREE, encoding="utf-8")
    runner = CliRunner()
    with warehouse_with("duckdb", tmp_path, staging, "signals", "outcomes") as warehouse:
        url = warehouse.url
    common = ["--outcomes", "outcomes", "--as-of", "2026-03-01", "--half-lives", "7,14,28", "--warehouse", url,
              "--trees-dir", str(trees)]  # fmt: skip
    page = tmp_path / "calibration.html"
    shown = runner.invoke(cli, ["calibrate", "synthetic_score", *common, "--format", "html", "-o", str(page)])
    assert shown.exit_code == 0, shown.output
    html = page.read_text()
    assert '<svg id="roc"' in html
    assert '<svg id="bands"' in html
    assert html.count("<polyline") == 2  # the current and the suggested curve
    assert html.count('class="tick-x"') == 5  # 0% to 100% on both axes
    assert html.count('class="tick-y"') == 10  # the ROC's and the band chart's
    assert "current, validation: AUC 0." in html  # the legend names each curve's AUC
    assert html.count('class="value"') == 6  # a rate on every bar: three bands, now and suggested
    assert "95% interval" in html
    written = runner.invoke(cli, ["calibrate", "synthetic_score", *common, "--write"])
    assert written.exit_code == 0, written.output
    assert "half_life_days 30 -> 14" in written.output
    text = tree_file.read_text()
    assert "# a wrong guess: the data halve every 14 days" in text  # the comment survives
    assert "half_life_days: 14}" in text
    assert "{id: opens, title: Opens, signal: open, weight: 1}" not in text
    assert load_tree_or_raise(tree_file).nodes["score"].score.decay.half_life_days == 14  # type: ignore[union-attr]
    missing = runner.invoke(cli, ["calibrate", "synthetic_score", *common[2:], "--outcomes", str(tmp_path / "no.csv")])
    assert missing.exit_code == 1
    assert "no outcomes file" in missing.output


def test_outcome_instants_without_an_offset_are_read_in_the_tree_timezone(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.csv"
    path.write_text(
        "contact_id,outcome,decided_at\nc1,renewed,2026-04-01\nc2,churned,2026-04-01T09:00:00+02:00\n"
        "c3,won,2026-04-01 09:00:00\n",
        encoding="utf-8",
    )
    found = read_outcomes(str(path), None, "America/New_York")
    york = ZoneInfo("America/New_York")
    assert [(o.entity, o.good, o.decided_at) for o in found.outcomes] == [
        ("c1", True, datetime(2026, 4, 1, tzinfo=york)),
        ("c2", False, datetime(2026, 4, 1, 7, tzinfo=UTC)),
        ("c3", True, datetime(2026, 4, 1, 9, tzinfo=york)),
    ]
    parquet = tmp_path / "outcomes.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_csv_auto('{path}', all_varchar=true)) TO '{parquet}'")
    assert found.outcomes == read_outcomes(str(parquet), None, "America/New_York").outcomes
    assert found.decided_between(datetime(2026, 4, 1, 6, 30, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC)) == {
        "c2": False,
        "c3": True,
    }  # c1 was decided at 04:00 UTC, before the window


def test_the_calibration_charts_fit_their_frames_in_headless_chromium(
    tmp_path: Path, world: tuple[duckdb.DuckDBPyConnection, dict[datetime, tuple[list[float], list[bool]]]]
) -> None:
    from playwright.sync_api import sync_playwright

    from tests.test_report import chromium_path

    staging, _truth = world
    trees = tmp_path / "trees"
    trees.mkdir()
    (trees / "synthetic_score.yaml").write_text(TREE, encoding="utf-8")
    with warehouse_with("duckdb", tmp_path, staging, "signals", "outcomes") as warehouse:
        url = warehouse.url
    page_file = tmp_path / "calibration.html"
    shown = CliRunner().invoke(
        cli,
        ["calibrate", "synthetic_score", "--outcomes", "outcomes", "--as-of", "2026-03-01", "--half-lives", "7,14,28",
         "--warehouse", url, "--trees-dir", str(trees), "--format", "html", "-o", str(page_file)],
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(page_file.as_uri())
        # Every label inside its chart (the legend once ran past the ROC's right edge), and the
        # rates on the bars side by side without overlapping (two '100%' once ran together).
        outside = page.evaluate(
            """() => [...document.querySelectorAll('svg')].flatMap(svg => {
                const frame = svg.getBoundingClientRect();
                return [...svg.querySelectorAll('text')].filter(t => {
                    const b = t.getBoundingClientRect();
                    return b.left < frame.left - 0.5 || b.right > frame.right + 0.5
                        || b.top < frame.top - 0.5 || b.bottom > frame.bottom + 0.5;
                }).map(t => t.textContent);
            })"""
        )
        overlapping = page.evaluate(
            """() => {
                const boxes = [...document.querySelectorAll('#bands text.value')].map(t => t.getBoundingClientRect());
                let found = 0;
                for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
                    const a = boxes[i], b = boxes[j];
                    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) found++;
                }
                return found;
            }"""
        )
        values = page.locator("#bands text.value").count()
        browser.close()
    assert outside == []
    assert values == 6
    assert overlapping == 0
