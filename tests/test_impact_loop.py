"""The impact loop on the sample warehouse: registration checks, the two planted verdicts, the tree
path, the owner told once per verdict, edits on the record, and the report marks."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from kpitree.analysis.variance import build_report
from kpitree.cli.main import cli
from kpitree.compute.batch import SegmentFilter
from kpitree.delivery.outbox import list_outbox
from kpitree.errors import UsageError
from kpitree.impact.describe import summaries
from kpitree.impact.estimate import Verdict
from kpitree.impact.evaluate import evaluate_intervention
from kpitree.impact.loop import evaluate_and_tell, evaluate_due
from kpitree.impact.registry import Window, edit, load_intervention, register
from kpitree.periods import Comparison, Grain, Period
from kpitree.report.render import report_html, report_markdown
from kpitree.sample import SampleSpec, write_sample
from kpitree.sample.generate import play_start
from kpitree.sample.interventions import SAMPLE_INTERVENTIONS
from kpitree.state.runs import list_runs
from kpitree.state.store import StateStore
from kpitree.tree import MetricTree
from kpitree.tree_files import load_tree_or_raise
from kpitree.warehouse import Warehouse, open_warehouse
from tests.conftest import TREES
from tests.sim_scheduler import serve_until

SPEC = SampleSpec()
START = play_start(SPEC)  # 2026-08-03
AFTER_WINDOW = START + timedelta(weeks=9)
NOW = datetime(2026, 11, 2, 8, tzinfo=UTC)


@pytest.fixture(scope="module")
def warehouse_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"duckdb:///{tmp_path_factory.mktemp('impact') / 'warehouse.duckdb'}"
    opened = open_warehouse(url, writable=True)
    write_sample(SPEC, opened)
    opened.dispose()
    return url


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[Warehouse]:
    opened = open_warehouse(warehouse_url)
    yield opened
    opened.dispose()


@pytest.fixture(scope="module")
def tree() -> MetricTree:
    return load_tree_or_raise(TREES / "activity_volume_per_contact.yaml")


def _register(store: StateStore, tree: MetricTree, index: int) -> int:
    planted = SAMPLE_INTERVENTIONS[index]
    return register(
        store.engine,
        tree,
        node_id=planted.node,
        start=START,
        expect=planted.expect,
        window=Window.parse(planted.window),
        owner=planted.owner,
        note=planted.note,
        size=planted.size,
        segment=SegmentFilter.parse([planted.segment], tree),
        control=SegmentFilter.parse([planted.control], tree),
        now=NOW - timedelta(days=120),
    ).id


def test_the_planted_play_is_verified_with_its_true_effect_inside_the_interval(
    store: StateStore, tree: MetricTree, warehouse: Warehouse
) -> None:
    found = evaluate_intervention(
        tree, load_intervention(store.engine, _register(store, tree, 0)), warehouse, AFTER_WINDOW
    )
    assert found.verdict is Verdict.VERIFIED, found.judgement.reason
    estimate = found.judgement.estimate
    assert estimate is not None
    assert found.treated_before is not None
    assert estimate.covers(0.25 * found.treated_before)  # the sample adds a meeting to a quarter of them
    assert found.judgement.placebo is not None
    assert found.judgement.placebo.covers(0)
    assert found.path[0].node_id == "meeting_touches"
    assert found.path[-1].node_id == tree.root
    assert found.attributed_to_root is not None
    assert found.attributed_to_root > 0  # more meetings pushed the KPI up


def test_the_rewrite_that_changed_nothing_is_not_verified(
    store: StateStore, tree: MetricTree, warehouse: Warehouse
) -> None:
    found = evaluate_intervention(
        tree, load_intervention(store.engine, _register(store, tree, 1)), warehouse, AFTER_WINDOW
    )
    assert found.verdict is Verdict.NOT_VERIFIED
    assert "rules out the expected +15%" in found.judgement.reason


def test_judging_before_the_window_ends_is_refused(store: StateStore, tree: MetricTree, warehouse: Warehouse) -> None:
    registered = load_intervention(store.engine, _register(store, tree, 0))
    with pytest.raises(UsageError, match="window ends on 2026-09-28"):
        evaluate_intervention(tree, registered, warehouse, date(2026, 9, 27))


def test_the_owner_is_told_once_per_verdict_and_edits_stay_on_the_record(
    store: StateStore, tree: MetricTree, warehouse: Warehouse
) -> None:
    intervention_id = _register(store, tree, 0)
    edit(store.engine, intervention_id, {"note": "meeting-first, all Mid-market reps"}, "scope grew", tree, NOW)
    done = evaluate_due(store.engine, tree, warehouse, AFTER_WINDOW, NOW)
    assert [d.evaluation.intervention.id for d in done] == [intervention_id]
    rows = list_outbox(store.engine, tree_id=tree.id)
    assert {(r.channel, r.recipient) for r in rows} == {("email", "tomas.novak@example.com"), ("slack", "U01TOMAS")}
    email = next(r for r in rows if r.channel == "email")
    assert "VERIFIED" in email.subject
    assert "Edited after registration: note changed" in email.body_text
    assert evaluate_due(store.engine, tree, warehouse, AFTER_WINDOW, NOW) == []  # already judged
    again = evaluate_and_tell(
        store.engine, tree, load_intervention(store.engine, intervention_id), warehouse, AFTER_WINDOW, NOW
    )
    assert again.queued == 0  # the same verdict is not told twice
    assert len(list_outbox(store.engine, tree_id=tree.id)) == 2


def test_registration_refuses_what_it_cannot_judge(store: StateStore, tree: MetricTree) -> None:
    base: dict[str, Any] = {"start": START, "expect": "up", "window": Window.parse("8w"), "owner": "tomas", "now": NOW}
    mid, ent = SegmentFilter.parse(["segment=Mid-market"], tree), SegmentFilter.parse(["segment=Enterprise"], tree)
    with pytest.raises(UsageError, match="no node 'meetings'"):
        register(store.engine, tree, node_id="meetings", **base)
    with pytest.raises(UsageError, match="not a person or team"):
        register(store.engine, tree, node_id="meeting_touches", **{**base, "owner": "nobody"})
    with pytest.raises(UsageError, match="--control needs --segment"):
        register(store.engine, tree, node_id="meeting_touches", control=ent, **base)
    motion = SegmentFilter.parse(["motion=inbound"], tree)
    with pytest.raises(UsageError, match="split on different columns"):
        register(store.engine, tree, node_id="meeting_touches", segment=mid, control=motion, **base)
    with pytest.raises(UsageError, match="not a duration") as refused:
        Window.parse("8x")
    assert refused.value.hint is not None
    assert "weeks (w), months (mo)" in refused.value.hint
    started_midweek = register(
        store.engine, tree, node_id="meeting_touches", **{**base, "start": START + timedelta(days=2)}
    )
    assert started_midweek.start == START + timedelta(weeks=1)  # the first whole week after the change


def test_the_report_lists_verdicts_and_marks_the_start_on_the_trend(
    store: StateStore, tree: MetricTree, warehouse: Warehouse
) -> None:
    _register(store, tree, 0)
    evaluate_due(store.engine, tree, warehouse, AFTER_WINDOW, NOW, notify=False)
    october = Period(date(2026, 10, 1), date(2026, 11, 1), Grain.MONTH)
    report = build_report(tree, october, warehouse, Comparison.PREVIOUS)
    items = summaries(store.engine, tree)
    assert "#1 Meeting touches in segment=Mid-market (2026-08-03 to 2026-09-27): VERIFIED" in report_markdown(
        report, items
    )
    marks = _MarkFinder()
    marks.feed(report_html(report, items))
    assert marks.found == [("meeting_touches", "#1 from 2026-08-03: verified")]
    assert marks.verdicts == ["verified"]


class _MarkFinder(HTMLParser):
    """The intervention marks on the sparklines, by node row, and the verdict cells."""

    def __init__(self) -> None:
        super().__init__()
        self.row: str | None = None
        self.in_mark = False
        self.in_verdict = False
        self.found: list[tuple[str, str]] = []
        self.verdicts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "tr" and attributes.get("data-node"):
            self.row = attributes["data-node"]
        if tag == "line":
            self.in_mark = attributes.get("class") == "intervention"
        if tag == "td":
            self.in_verdict = "verdict" in (attributes.get("class") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "line":
            self.in_mark = False

    def handle_data(self, data: str) -> None:
        if self.in_mark and self.lasttag == "title" and self.row:
            self.found.append((self.row, data))
            self.in_mark = False
        if self.in_verdict and data.strip():
            self.verdicts.append(data.strip())
            self.in_verdict = False


def test_the_cli_adds_lists_edits_and_evaluates(tmp_path: Path, warehouse_url: str) -> None:
    runner = CliRunner()
    state = f"sqlite:///{tmp_path / 'state.db'}"
    common = ["--state-db", state, "--trees-dir", str(TREES)]
    added = runner.invoke(
        cli,
        ["impact", "add", "activity_volume_per_contact", "meeting_touches", "--start", "2026-08-03", "--expect", "up",
         "--size", "20%", "--owner", "tomas", "--segment", "segment=Mid-market", "--control", "segment=Enterprise",
         *common],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "evaluate from 2026-09-28" in added.output
    bad = runner.invoke(
        cli, ["impact", "add", "activity_volume_per_contact", "meeting_touches", "--start", "2026-08-03",
              "--expect", "up", "--owner", "tomas", "--control", "segment=Enterprise", *common],
    )  # fmt: skip
    assert bad.exit_code == 1
    assert "--control needs --segment" in bad.output
    assert "Traceback" not in bad.output
    edited = runner.invoke(cli, ["impact", "edit", "1", "--window", "9w", "--reason", "summer holidays", *common])
    assert edited.exit_code == 0, edited.output
    assert "#1 window: 8w -> 9w" in edited.output
    evaluated = runner.invoke(
        cli,
        ["impact", "evaluate", "--today", "2026-11-02", "--files-only", "--outbox-dir", str(tmp_path / "out"),
         "--warehouse", warehouse_url, *common],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    assert "verdict: " in evaluated.output  # judged over the edited nine weeks
    assert "edited after registration: window changed from 8w to 9w" in evaluated.output
    assert "verdicts to owners: 2 sent" in evaluated.output
    listed = runner.invoke(cli, ["impact", "list", "--state-db", state])
    assert " on 2026-" in listed.output  # the verdict and its day
    assert "edited: window changed from 8w to 9w" in listed.output
    sent = sorted(p.suffix for p in (tmp_path / "out").iterdir())
    assert sent == [".eml", ".json"]
    blocks = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert "intervention 1 on Meeting touches is" in json.dumps(blocks)


def test_a_scheduled_run_judges_what_became_due_and_tells_the_owner(
    tmp_path: Path, tree: MetricTree, warehouse_url: str
) -> None:
    trees_dir = tmp_path / "trees"
    trees_dir.mkdir()
    shutil.copy(TREES / "activity_volume_per_contact.yaml", trees_dir)  # monthly: 07:00 London on the 1st
    store = StateStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    intervention_id = _register(store, tree, 0)
    out = tmp_path / "out"
    with freeze_time("2026-10-31T23:00:00Z") as clock:
        serve_until(clock, datetime(2026, 11, 1, 12, tzinfo=UTC), store, trees_dir, warehouse_url, out)
    (run,) = list_runs(store.engine)
    assert (run.period_label, run.status) == ("2026-10", "succeeded")
    (summary,) = summaries(store.engine, tree)
    assert (summary.id, summary.verdict) == (intervention_id, "verified")
    told = [r for r in list_outbox(store.engine, tree_id=tree.id) if r.recipient == "tomas.novak@example.com"]
    assert [(r.status, "intervention 1" in r.subject) for r in told] == [("sent", True)]
    report = (out / "reports" / tree.id / "2026-10.md").read_text(encoding="utf-8")
    assert "## Interventions" in report
    assert "VERIFIED" in report
