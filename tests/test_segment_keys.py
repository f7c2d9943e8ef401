"""Segment keys are canonical JSON: any value reads back as itself, and databases written with the
old 'dim=a|b&dim2=c' keys are rewritten by migration 0007, run keys included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from kpitree.compute.batch import SegmentFilter, key_items, segment_label
from kpitree.state.migrations import upgrade
from kpitree.tree import MetricTree
from kpitree.tree_files import load_tree_or_raise
from tests.conftest import TREES
from tests.engines import state_url


@pytest.fixture(scope="module")
def tree() -> MetricTree:
    return load_tree_or_raise(TREES / "activity_volume_per_contact.yaml")


@pytest.mark.parametrize("values", [["R&D"], ["A|B"], ["x=y"], ["SMB", "Mid-market"], ['quote " and \\ slash']])
def test_any_value_round_trips(tree: MetricTree, values: list[str]) -> None:
    segment = SegmentFilter.parse([f"segment={v}" for v in values], tree)
    key = segment.key()
    assert SegmentFilter.from_key(key, tree) == segment
    assert json.loads(key) == {"segment": values}


@given(values=st.lists(st.text(min_size=1).filter(lambda v: v.strip() == v and "\x00" not in v), min_size=1))
def test_keys_read_back_the_values_written(values: list[str]) -> None:
    key = json.dumps({"segment": values}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert key_items(key) == [("segment", values)]


def test_the_key_is_canonical_and_the_label_is_for_people(tree: MetricTree) -> None:
    one = SegmentFilter.parse(["segment=SMB", "motion=inbound"], tree)
    other = SegmentFilter.parse(["motion=inbound", "segment=SMB"], tree)
    assert one.key() == other.key()
    assert one.label() == "motion=inbound, segment=SMB"
    assert SegmentFilter().key() == ""
    assert segment_label("") == ""


def test_old_keys_are_still_read(tree: MetricTree) -> None:
    assert SegmentFilter.from_key("segment=SMB|Mid-market", tree) == SegmentFilter.parse(
        ["segment=SMB", "segment=Mid-market"], tree
    )


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_migration_0007_rewrites_stored_keys_and_the_run_keys_built_from_them(kind: str, tmp_path: Path) -> None:
    with state_url(kind, tmp_path) as url:
        engine = sa.create_engine(url)
        upgrade(engine, "0006")
        old_run = "activity_volume_per_contact/2026-10/segment=SMB/manual"
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO pipeline_run (run_key, tree_id, period_label, segment, trigger, notify, status,"
                    " attempt, token, holder, started_at) VALUES (:k, 't', '2026-10', 'segment=SMB', 'manual',"
                    " true, 'succeeded', 1, 'x', 'h', CURRENT_TIMESTAMP)"
                ),
                {"k": old_run},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO intervention (tree_id, node_id, start, expect, grain, window_periods,"
                    " owner, note, segment, control, registered_at)"
                    " VALUES ('t', 'n', '2026-09-01', 'up', 'week', 8, 'o', '', 'segment=Mid-market',"
                    " 'segment=Enterprise', CURRENT_TIMESTAMP)"
                )
            )
        upgrade(engine)
        with engine.connect() as connection:
            run_key, segment = connection.execute(sa.text("SELECT run_key, segment FROM pipeline_run")).one()
            treated, control = connection.execute(sa.text("SELECT segment, control FROM intervention")).one()
        engine.dispose()
    assert segment == '{"segment":["SMB"]}'
    assert run_key == 'activity_volume_per_contact/2026-10/{"segment":["SMB"]}/manual'
    assert (treated, control) == ('{"segment":["Mid-market"]}', '{"segment":["Enterprise"]}')
