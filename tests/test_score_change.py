"""A score change split by engagement type and into new activity and ageing, in SQL on every engine:
the seed's contact whose meeting ages from one week to two (36 -> 31, all of it ageing), the same
contact with a new login, an account's roll-up, and the population of the generated sample against
the independent Python reference."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from statistics import fmean, median

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from kpitree.analysis.score_change import ScoreChange, score_change, split_score_change
from kpitree.cli.main import cli
from kpitree.compute.batch import PeriodWindow, windows
from kpitree.compute.score_states import ScoreState, ScoreSubject, roll_up_state
from kpitree.errors import UsageError
from kpitree.sample.generate import TABLES
from kpitree.tree import MetricTree, tree_calendar
from kpitree.tree_files import load_tree_or_raise
from tests.conftest import TREES
from tests.engines import warehouse_with
from tests.reference import contact_scores, score_summary
from tests.staging import staging

TYPES = ("product_usage", "email_and_content", "human_interactions", "intent")


def score_tree() -> MetricTree:
    return load_tree_or_raise(TREES / "contact_engagement_score.yaml")


def weeks(tree: MetricTree, current: str, compare: str) -> tuple[PeriodWindow, PeriodWindow]:
    calendar = tree_calendar(tree)
    now, before = windows(calendar, [calendar.parse(current), calendar.parse(compare)])
    return now, before


def seed_contact(new_login: bool) -> duckdb.DuckDBPyConnection:
    """The seed's contact with the meeting a week before the end of 2026-W43 (36 points then), and
    a second contact of another account. With ``new_login``, c1 logs in once more in 2026-W44."""
    db = staging("accounts", "signals")
    db.execute("INSERT INTO accounts VALUES ('a1', 'Acme', 'SMB', 'outbound', 'csm@example.com')")
    db.execute("INSERT INTO accounts VALUES ('a2', 'Bolt', 'MM', 'outbound', 'csm2@example.com')")
    end_w43 = "TIMESTAMPTZ '2026-10-26 00:00:00+00'"
    db.execute(
        f"INSERT INTO signals SELECT 'l' || i, 'c1', 'a1', 'login', {end_w43} - INTERVAL 2 DAY, NULL FROM range(4) t(i)"
    )
    db.execute(
        f"INSERT INTO signals SELECT 'o' || i, 'c1', 'a1', 'email_open', {end_w43} - INTERVAL 3 DAY, NULL "
        "FROM range(6) t(i)"
    )
    db.execute(f"INSERT INTO signals VALUES ('m', 'c1', 'a1', 'meeting_attended', {end_w43} - INTERVAL 7 DAY, NULL)")
    db.execute(f"INSERT INTO signals VALUES ('p', 'c2', 'a2', 'pricing_page_view', {end_w43} - INTERVAL 1 DAY, NULL)")
    if new_login:
        db.execute(f"INSERT INTO signals VALUES ('new', 'c1', 'a1', 'login', {end_w43} + INTERVAL 6 DAY, NULL)")
    return db


def change_for(engine: str, tmp_path: Path, db: duckdb.DuckDBPyConnection, **subject: str) -> ScoreChange:
    tree = score_tree()
    node = tree.nodes[tree.root]
    current, compare = weeks(tree, "2026-W44", "2026-W43")
    with warehouse_with(engine, tmp_path, db, "accounts", "signals") as wh:
        return score_change(tree, node, current, compare, wh, subject=ScoreSubject.of(node, **subject))


def parts(change: ScoreChange) -> dict[str, float]:
    """Each type's ageing and new-activity parts, keyed ``type/ageing`` and ``type/new``."""
    return {
        f"{t.type_id}/{part}": v for t in change.types for part, v in (("ageing", t.ageing), ("new", t.new_activity))
    }


def test_a_score_that_slid_only_because_time_passed_says_so(engine: str, tmp_path: Path) -> None:
    change = change_for(engine, tmp_path, seed_contact(new_login=False), contact="c1")
    # The meeting turns two weeks old: 10 x 0.5 instead of 10; logins and opens are still recent.
    assert (change.before.score, change.aged.score, change.after.score) == pytest.approx((36.0, 31.0, 31.0))
    assert change.ageing == pytest.approx(-5.0)
    assert change.new_activity == 0.0
    assert change.only_ageing
    assert parts(change) == pytest.approx(
        {
            f"{t}/{p}": -5.0 if t == "human_interactions" and p == "ageing" else 0.0
            for t in TYPES
            for p in ("ageing", "new")
        }
    )


def test_new_activity_and_ageing_apart(engine: str, tmp_path: Path) -> None:
    change = change_for(engine, tmp_path, seed_contact(new_login=True), contact="c1")
    assert (change.before.score, change.aged.score, change.after.score) == pytest.approx((36.0, 31.0, 36.0))
    assert (change.ageing, change.new_activity, change.delta) == pytest.approx((-5.0, 5.0, 0.0))
    assert not change.only_ageing
    split = parts(change)
    assert (split["product_usage/ageing"], split["product_usage/new"]) == pytest.approx((0.0, 5.0))
    assert (split["human_interactions/ageing"], split["human_interactions/new"]) == pytest.approx((-5.0, 0.0))


def test_an_account_and_the_population_roll_up_their_contacts(engine: str, tmp_path: Path) -> None:
    account = change_for(engine, tmp_path / "a", seed_contact(new_login=True), account="a1")
    population = change_for(engine, tmp_path / "p", seed_contact(new_login=True))
    assert account.subject == "account_id a1"
    assert (account.before.score, account.after.score) == pytest.approx((36.0, 36.0))  # c1 is a1's only contact
    # c2: one pricing-page view (4 points) a day before W43 ends; eight days old at the end of W44.
    assert (population.before.score, population.aged.score) == pytest.approx((20.0, 17.5))
    assert population.after.score == pytest.approx(20.0)
    assert (parts(population)["intent/ageing"], parts(population)["intent/new"]) == pytest.approx((0.0, 0.0))


def test_an_unknown_contact_is_unscored_not_an_error(tmp_path: Path) -> None:
    change = change_for("duckdb", tmp_path, seed_contact(new_login=False), contact="nobody")
    assert change.before.score is None
    assert change.after.score is None
    assert change.delta == 0.0
    assert not change.only_ageing


def test_a_comparison_after_the_period_is_refused(tmp_path: Path) -> None:
    tree = score_tree()
    later, earlier = weeks(tree, "2026-W44", "2026-W43")
    with (
        warehouse_with("duckdb", tmp_path, seed_contact(new_login=False), "accounts", "signals") as wh,
        pytest.raises(UsageError, match="before the current one"),
    ):
        score_change(tree, tree.nodes[tree.root], earlier, later, wh)


def test_the_sample_population_matches_the_reference(
    engine: str, tmp_path: Path, sample: duckdb.DuckDBPyConnection, rows: dict[str, list[dict[str, object]]]
) -> None:
    tree = score_tree()
    node = tree.nodes[tree.root]
    current, compare = weeks(tree, "2026-W43", "2026-W42")
    with warehouse_with(engine, tmp_path, sample, *TABLES) as wh:
        change = score_change(tree, node, current, compare, wh)
        some_account = next(iter(sorted(contact_scores(tree, node, current.end, rows)[1].values())))
        account = score_change(tree, node, current, compare, wh, subject=ScoreSubject.of(node, account=some_account))
    expected = {
        "before": score_summary(tree, node, compare.end, rows),
        "aged": score_summary(tree, node, current.end, rows, signals_until=compare.end),
        "after": score_summary(tree, node, current.end, rows),
    }
    assert expected["aged"]["n"] > 50
    for name, state in (("before", change.before), ("aged", change.aged), ("after", change.after)):
        assert state.score == pytest.approx(expected[name]["mean"]), name
        assert dict(state.by_type) == pytest.approx(expected[name]["types"]), name
    # Both parts are real on this data: signals arrive every week, and the older ones decay.
    assert change.ageing < 0 < change.new_activity
    assert sum(t.ageing for t in change.types) == pytest.approx(change.ageing, abs=1e-9)
    assert sum(t.new_activity for t in change.types) == pytest.approx(change.new_activity, abs=1e-9)

    def account_mean(as_of: PeriodWindow, until: PeriodWindow) -> float:
        scores, account_of = contact_scores(tree, node, as_of.end, rows, until.end)
        return fmean(s.score for c, s in scores.items() if account_of[c] == some_account)

    assert account.before.score == pytest.approx(account_mean(compare, compare))
    assert account.aged.score == pytest.approx(account_mean(current, compare))
    assert account.after.score == pytest.approx(account_mean(current, current))


scores = st.floats(0, 100, allow_nan=False)


@st.composite
def states(draw: st.DrawFn) -> ScoreState:
    if draw(st.booleans()) and draw(st.booleans()):
        return ScoreState(None, {})
    by_type = {t: draw(scores) for t in TYPES}
    return ScoreState(sum(by_type.values()), by_type)


@given(states(), states(), states())
def test_the_parts_always_add_up(before: ScoreState, aged: ScoreState, after: ScoreState) -> None:
    change = split_score_change("x", before, aged, after, TYPES)
    assert change.ageing + change.new_activity == pytest.approx(change.delta, abs=1e-9)
    assert sum(t.delta for t in change.types) == pytest.approx(change.delta, abs=1e-9)
    assert sum(t.ageing for t in change.types) == pytest.approx(change.ageing, abs=1e-9)
    swapped = split_score_change("x", after, aged, before, TYPES)
    assert swapped.delta == -change.delta


@pytest.mark.parametrize("method", ["mean", "max", "median"])
@given(contacts=st.lists(states(), max_size=6))
def test_a_roll_up_keeps_its_composition_summing_to_its_score(method: str, contacts: list[ScoreState]) -> None:
    rolled = roll_up_state(contacts, method)
    scored = [c.points for c in contacts if c.score is not None]
    if not scored:
        assert rolled.score is None
        return
    roll_ups: dict[str, Callable[[list[float]], float]] = {"mean": fmean, "max": max, "median": median}
    expected = roll_ups[method](scored)
    assert rolled.score == pytest.approx(expected)
    assert sum(rolled.by_type.values()) == pytest.approx(rolled.points, abs=1e-9)


def test_the_command_says_when_time_alone_moved_a_contact(runner: CliRunner, tmp_path: Path) -> None:
    with warehouse_with("duckdb", tmp_path, seed_contact(new_login=False), "accounts", "signals") as wh:
        url = str(wh.engine.url)
    args = ["score-change", "contact_engagement_score", "--period", "2026-W44", "--warehouse", url]
    result = runner.invoke(cli, [*args, "--contact", "c1"])
    assert result.exit_code == 0, result.output
    assert "36 -> 31 points" in result.stdout
    assert "moved -5 points only because time passed" in result.stdout
    as_json = json.loads(runner.invoke(cli, [*args, "--account", "a1", "--format", "json"]).stdout)
    assert (as_json["subject"], as_json["only_ageing"], as_json["ageing"]) == ("account_id a1", True, -5.0)
    unknown = runner.invoke(cli, [*args, "--contact", "c404"])
    assert unknown.exit_code == 1
    assert "contact_id c404 has no weighted signal" in unknown.output
    assert "Traceback" not in unknown.output
    both = runner.invoke(cli, [*args, "--contact", "c1", "--account", "a1"])
    assert both.exit_code == 1
    assert "not both" in both.output
    not_a_score = runner.invoke(
        cli, ["score-change", "activity_volume_per_contact", "--period", "2026-10", "--warehouse", url]
    )
    assert not_a_score.exit_code == 1
    assert "has no score nodes" in not_a_score.output
