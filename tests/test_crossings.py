"""Band crossings found in the warehouse agree with the per-contact scores rolled up in Python.

The reference lists every contact's score (``score_rows``), rolls contacts up to accounts with
``roll_up_state`` and compares bands in Python, as the alerts did before the warehouse did it;
``band_moves`` must return exactly the entities that reference finds, with the same scores, bands,
parts and owner columns, on every engine and for each roll-up method.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from kpitree.compute.batch import SegmentFilter, windows
from kpitree.compute.contact_scores import score_points
from kpitree.compute.crossings import BandMove, BandWatch, band_moves, band_moves_for_rules, band_ranks
from kpitree.compute.score_states import UNSCORED, ScoreState, roll_up_state, state_from_row
from kpitree.compute.scores import score_rows
from kpitree.scoring import band_for
from kpitree.tree import MetricTree, Node, tree_calendar
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import Warehouse
from tests.conftest import TREES
from tests.engines import warehouse_with
from tests.staging import insert_rows, staging

SCORE_TREE = TREES / "contact_engagement_score.yaml"
PERIOD = "2026-W42"


SIGNALS = ["login", "feature_used", "app_minutes", "email_open", "meeting_attended", "reply", "intent_surge", "other"]


def swinging_signals(seed: int) -> duckdb.DuckDBPyConnection:
    """120 contacts over twelve accounts (and three with none) whose signals come in bursts, so that
    contacts and accounts cross bands both ways between W41 and W42; three accounts have a CSM."""
    rng = random.Random(seed)
    connection = staging("signals", "accounts")
    start = datetime(2026, 8, 20, tzinfo=UTC)
    rows = []
    for contact in range(123):
        account = f"acc-{contact % 12}" if contact < 120 else None
        for burst in range(rng.randint(0, 4)):
            at = start + timedelta(days=rng.uniform(0, 60))
            kind = rng.choice(SIGNALS)
            quantity = rng.choice([None, 5.0, 30.0]) if kind == "app_minutes" else None
            rows += [
                (f"s{contact}-{burst}-{i}", f"con-{contact}", account, kind, at, quantity)
                for i in range(rng.randint(1, 9))
            ]
    insert_rows(connection, "signals", rows)
    for number in range(12):
        csm = f"csm{number % 3}@example.com" if number < 3 else None
        connection.execute("INSERT INTO accounts VALUES (?, ?, 'SMB', 'outbound', ?)", [f"acc-{number}", "A", csm])
    return connection


def csm_of(entity_kind: str, entity: str) -> str | None:
    """The CSM swinging_signals gave an entity's account (none for a contact without one)."""
    number = int(entity.split("-")[1])
    if entity_kind == "contact":
        if number >= 120:
            return None
        number %= 12
    return f"csm{number % 3}@example.com" if number < 3 else None


def tree_with_roll_up(tmp_path: Path, method: str) -> MetricTree:
    text = SCORE_TREE.read_text(encoding="utf-8").replace(
        "{entity: account_id, method: mean}", f"{{entity: account_id, method: {method}}}"
    )
    path = tmp_path / "score.yaml"
    path.write_text(text, encoding="utf-8")
    return load_tree_or_raise(path)


def rolled_states(
    tree: MetricTree, node: Node, entity_kind: str, warehouse: Warehouse
) -> dict[int, dict[str, ScoreState]]:
    """Each entity's state at W42's end (0) and W41's (1), from every contact's row, in Python."""
    spec = node.score
    assert spec is not None
    calendar = tree_calendar(tree)
    current = calendar.parse(PERIOD)
    points = score_points(windows(calendar, [current, calendar.shift(current, -1)]))
    key = "entity" if entity_kind == "contact" else f"r_{spec.roll_up[0].entity}"
    states: dict[int, dict[str, list[ScoreState]]] = {0: defaultdict(list), 1: defaultdict(list)}
    with warehouse.connect() as connection:
        # By contact id: a roll-up's ties are broken by it (the first contact wins, as the SQL orders them).
        listed = connection.execute(score_rows(tree, node, points, SegmentFilter(), warehouse)).mappings().all()
        for row in sorted(listed, key=lambda r: str(r["entity"])):
            if row[key] is not None:
                states[row["idx"]][str(row[key])].append(state_from_row(tree, node, row))

    def one(rows: list[ScoreState]) -> ScoreState:
        return rows[0] if entity_kind == "contact" else roll_up_state(rows, spec.roll_up[0].method)

    return {idx: {e: one(rows) for e, rows in by.items()} for idx, by in states.items()}


def reference_moves(
    node: Node, watch: BandWatch, rolled: dict[int, dict[str, ScoreState]], firing: set[str]
) -> dict[str, BandMove]:
    """The entities the rule sees, as the alerts found them in Python before the warehouse did,
    from ``rolled``: :func:`rolled_states` for the rule's kind of entity."""
    spec = node.score
    assert spec is not None
    ranks = band_ranks(spec.bands)
    lowest = max(ranks, key=lambda name: ranks[name])
    found = {}
    for entity in set(rolled[0]) | set(rolled[1]):  # band_moves returns scored entities only
        after, before = rolled[0].get(entity, UNSCORED), rolled[1].get(entity, UNSCORED)
        in_band = band_for(after.points, spec.bands)  # an unscored entity has 0 points
        band_after = in_band.name if in_band else lowest
        band_before = band_for(before.score, spec.bands) if before.score is not None else None
        name_before = band_before.name if band_before else None
        crossed = False
        if name_before is not None:
            moved = ranks[band_after] - ranks[name_before]
            crossed = moved > 0 if watch.direction == "down" else moved < 0
        watched = watch.to_bands is None or band_after in watch.to_bands
        if (watched and crossed) or entity in firing:
            found[entity] = BandMove(
                entity,
                before.score,
                after.score,
                name_before,
                band_after,
                {t: before.part(t) for t in node.children},
                {t: after.part(t) for t in node.children},
                {},
            )
    return found


def assert_same(found: list[BandMove], expected: dict[str, BandMove]) -> None:
    assert sorted(m.entity for m in found) == sorted(expected)
    for move in found:
        want = expected[move.entity]
        assert (move.band_before, move.band_after) == (want.band_before, want.band_after), move.entity
        for got, ref in ((move.score_before, want.score_before), (move.score_after, want.score_after)):
            assert (got is None) == (ref is None)
            if got is not None and ref is not None:
                assert got == pytest.approx(ref, rel=1e-9, abs=1e-9)
        for parts, ref_parts in ((move.parts_before, want.parts_before), (move.parts_after, want.parts_after)):
            assert parts == pytest.approx(ref_parts, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("method", ["mean", "max", "median"])
@pytest.mark.parametrize("direction", ["down", "up"])
def test_crossings_in_sql_match_the_per_contact_rows(engine: str, method: str, direction: str, tmp_path: Path) -> None:
    tree = tree_with_roll_up(tmp_path, method)
    node = tree.nodes[tree.root]
    calendar = tree_calendar(tree)
    current = calendar.parse(PERIOD)
    batch = windows(calendar, [current, calendar.shift(current, -1)])
    with warehouse_with(engine, tmp_path, swinging_signals(0), "signals", "accounts") as warehouse:
        for entity in ("contact", "account"):
            # The per-contact rows in Python once per kind of entity: every reference below reads them.
            rolled = rolled_states(tree, node, entity, warehouse)
            every = reference_moves(node, BandWatch(entity, direction, None), rolled, set())
            assert every, f"the sample has {entity}s crossing {direction}: the test checks something"
            # Firing: three that crossed, three scored ones that did not, ids with a quote and unknown.
            still = reference_moves(node, BandWatch(entity, direction, frozenset()), rolled, set())
            assert still == {}
            quiet = sorted((set(rolled[0]) | set(rolled[1])) - set(every))[:3]
            firing = set(sorted(every)[:3]) | set(quiet) | {"x'y", "no-such-entity"}
            with_firing = reference_moves(node, BandWatch(entity, direction, None), rolled, firing)
            assert len(with_firing) == len(every) + len(quiet)
            for watch, expected, told in (
                (BandWatch(entity, direction, None), every, set[str]()),
                (BandWatch(entity, direction, None), with_firing, firing),
                (BandWatch(entity, direction, frozenset({"Dormant"})), None, firing),
            ):
                if expected is None:
                    expected = reference_moves(node, watch, rolled, told)
                found = band_moves(tree, node, watch, batch[0], batch[1], warehouse, SegmentFilter(), told)
                assert_same(found, expected)
            # The owner column is read for the entities found, and only for them.
            watch = BandWatch(entity, direction, None, ("csm_email",))
            found = band_moves(tree, node, watch, batch[0], batch[1], warehouse, SegmentFilter(), firing)
            assert_same(found, with_firing)
            for move in found:
                assert move.owner_values == {"csm_email": csm_of(entity, move.entity)}, move.entity
        # Both rules in one statement over the same per-contact scores: as each alone.
        watches = [
            (BandWatch("contact", direction, None, ("csm_email",)), {"con-1"}),
            (BandWatch("account", direction, frozenset({"Dormant", "At risk"})), {"acc-2"}),
        ]
        together = band_moves_for_rules(tree, node, watches, batch[0], batch[1], warehouse, SegmentFilter())
        for (watch, told), moves in zip(watches, together, strict=True):
            alone = band_moves(tree, node, watch, batch[0], batch[1], warehouse, SegmentFilter(), told)
            # The same entities, bands and owners; the sums to a rounding (engines add in any order).
            assert_same(moves, {m.entity: m for m in alone})
            assert [m.owner_values for m in moves] == [m.owner_values for m in alone]
        assert together[0], "contacts crossed: the comparison checks something"


def test_owner_columns_read_by_join_key_and_over_the_rows_agree(engine: str, tmp_path: Path) -> None:
    """``csm_email`` comes from the accounts by the contact's account key; ``account_id``, the
    signals' own column, is read over the contact's rows: both give each contact's own values."""
    tree = tree_with_roll_up(tmp_path, "mean")
    node = tree.nodes[tree.root]
    calendar = tree_calendar(tree)
    current = calendar.parse(PERIOD)
    batch = windows(calendar, [current, calendar.shift(current, -1)])
    with warehouse_with(engine, tmp_path, swinging_signals(0), "signals", "accounts") as warehouse:
        watch = BandWatch("contact", "down", None, ("account_id", "csm_email"))
        found = band_moves(tree, node, watch, batch[0], batch[1], warehouse, SegmentFilter(), set())
        assert found, "contacts crossed: the owners are checked on something"
        for move in found:
            number = int(move.entity.split("-")[1])
            account = f"acc-{number % 12}" if number < 120 else None
            assert move.owner_values == {"account_id": account, "csm_email": csm_of("contact", move.entity)}
        accounts = band_moves(
            tree, node, BandWatch("account", "down", None, ("csm_email",)), batch[0], batch[1], warehouse,
            SegmentFilter(), set(),
        )  # fmt: skip
        assert accounts, "accounts crossed: the owners are checked on something"
        assert all(m.owner_values == {"csm_email": csm_of("account", m.entity)} for m in accounts)
