"""A month of ``kpitree schedule`` with the shipped trees on the demo's sample warehouse, lived in
seconds on a frozen clock: October 2026, which holds the UK's autumn clock change.

The expected runs follow from the trees' crons (the activity tree at 07:00 London on the 1st, the
engagement tree at 06:00 London on Mondays). The expected alerts are what running the same periods
by hand, at the same instants, notifies: the scheduler must add nothing and lose nothing.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from freezegun import freeze_time

from kpitree.delivery.outbox import list_outbox
from kpitree.pipeline import run_tree
from kpitree.resources import shipped_trees_dir
from kpitree.sample import SampleSpec, write_sample
from kpitree.state.runs import list_runs
from kpitree.state.store import StateStore
from kpitree.tree import tree_calendar
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import open_warehouse
from tests.sim_scheduler import serve_until

ACTIVITY, ENGAGEMENT = "activity_volume_per_contact", "contact_engagement_score"
EXPECTED_RUNS = [
    (ACTIVITY, "2026-09", "2026-10-01T06:00:00+00:00"),  # 07:00 BST
    (ENGAGEMENT, "2026-W40", "2026-10-05T05:00:00+00:00"),
    (ENGAGEMENT, "2026-W41", "2026-10-12T05:00:00+00:00"),
    (ENGAGEMENT, "2026-W42", "2026-10-19T05:00:00+00:00"),
    (ENGAGEMENT, "2026-W43", "2026-10-26T06:00:00+00:00"),  # 06:00 GMT, after the change
    (ACTIVITY, "2026-10", "2026-11-01T07:00:00+00:00"),
]


@pytest.fixture(scope="module")
def warehouse_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('demo') / 'warehouse.duckdb'}"
    warehouse = open_warehouse(url, writable=True)
    write_sample(SampleSpec(), warehouse)  # the demo's own sample, at its own size
    warehouse.dispose()
    return url


def test_a_simulated_month_of_the_demo_trees(warehouse_url: str, tmp_path: Path) -> None:
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    out = tmp_path / "out"
    with freeze_time("2026-10-01T00:00:00Z") as clock:
        serve_until(clock, datetime(2026, 11, 1, 12, tzinfo=UTC), store, shipped_trees_dir(), warehouse_url, out)

    runs = sorted(list_runs(store.engine), key=lambda r: r.scheduled_for or datetime.min.replace(tzinfo=UTC))
    assert [(r.tree_id, r.period_label, r.scheduled_for.isoformat() if r.scheduled_for else "") for r in runs] == (
        EXPECTED_RUNS
    )
    assert {(r.status, r.trigger, r.attempt) for r in runs} == {("succeeded", "schedule", 1)}
    for run in runs:
        for suffix in ("md", "html"):
            report = out / "reports" / run.tree_id / f"{run.period_label}.{suffix}"
            assert report.is_file(), report
        assert run.period_label in (out / "reports" / run.tree_id / f"{run.period_label}.md").read_text()

    outbox = list_outbox(store.engine)
    assert {row.status for row in outbox} == {"sent"}
    files = {path.name for path in (out / "outbox").iterdir()}
    assert len(files) == len({row.message_key for row in outbox})
    # October's activity alerts reach Sofia (selling hours per rep: the branch with the largest gap).
    october = [row for row in outbox if row.run_key == next(r.run_key for r in runs if r.period_label == "2026-10")]
    assert "sofia.brandt@example.com" in {row.recipient for row in october}

    # The same periods run by hand at the same instants notify exactly the same messages.
    by_hand = StateStore.open(f"sqlite:///{tmp_path / 'by_hand.db'}")
    trees = {t.id: t for t in (load_tree_or_raise(p) for p in sorted(shipped_trees_dir().glob("*.yaml")))}
    warehouse = open_warehouse(warehouse_url)
    try:
        for tree_id, label, fire in EXPECTED_RUNS:
            tree = trees[tree_id]
            with freeze_time(fire):
                run_tree(tree, tree_calendar(tree).parse(label), warehouse, by_hand)
    finally:
        warehouse.dispose()

    def messages(engine_store: StateStore) -> Counter[tuple[str, str, str, str]]:
        return Counter(
            (row.tree_id, row.channel, row.recipient, row.subject) for row in list_outbox(engine_store.engine)
        )

    assert messages(store) == messages(by_hand)
    assert sum(messages(store).values()) > 0
