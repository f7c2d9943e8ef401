"""The warehouse commands, run in-process with exit codes asserted: sample-data, compute, check,
load, db, demo."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from kpitree.cli.main import cli
from kpitree.state.store import StateStore
from tests.conftest import TREES
from tests.engines import engine_url

ACTIVITY = "activity_volume_per_contact"
SCORE = "contact_engagement_score"


@pytest.fixture
def sample_url(tmp_path: Path, runner: CliRunner) -> str:
    url = f"duckdb:///{tmp_path / 'sample.duckdb'}"
    result = runner.invoke(cli, ["sample-data", "--size", "3000", "--warehouse", url])
    assert result.exit_code == 0, result.output
    return url


def invoke(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_compute_json_is_the_documented_shape(runner: CliRunner, sample_url: str, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    code, out, _ = invoke(
        runner, "compute", ACTIVITY, "--period", "2026-10", "--format", "json", "--warehouse", sample_url,
        "--state-db", state,
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["tree"] == ACTIVITY
    assert data["period"] == {"label": "2026-10", "start": "2026-10-01", "end": "2026-11-01", "grain": "month"}
    assert data["compare"]["kind"] == "previous"
    assert data["compare"]["label"] == "2026-09"
    root = data["nodes"][0]
    assert root["id"] == ACTIVITY
    required = {"id", "title", "value", "compare_value", "delta", "unit", "band_status", "reason"}
    assert required <= set(root)
    assert root["delta"] == pytest.approx(root["value"] - root["compare_value"])
    assert root["band_status"] in ("below", "within", "above")
    calls = next(n for n in data["nodes"] if n["id"] == "call_touches")
    assert calls["per"]["node"] == "active_contacts"
    assert calls["owners"]["responsible"] == ["lena"]


def test_compute_reports_no_value_with_a_reason(runner: CliRunner, sample_url: str) -> None:
    code, out, _ = invoke(
        runner, "compute", ACTIVITY, "--period", "2024-01", "--format", "json", "--warehouse", sample_url, "--no-save"
    )
    assert code == 0
    root = json.loads(out)["nodes"][0]
    assert root["value"] is None
    assert root["reason"] == "qualifying_activities has no value"


def test_compute_csv_and_show_sql(runner: CliRunner, sample_url: str) -> None:
    result = runner.invoke(
        cli,
        [
            "compute",
            SCORE,
            "--period",
            "2026-W43",
            "--format",
            "csv",
            "--show-sql",
            "--warehouse",
            sample_url,
            "--no-save",
        ],
    )
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["node"] == SCORE
    assert rows[0]["band"] in ("Champion", "Engaged", "At risk", "Dormant")
    assert len(rows) == 16  # score, 4 engagement types, 11 signals
    # One statement for the score node, written to stderr so the CSV stays clean.
    assert result.stderr.count("WITH contact_points AS") == 1


def test_compute_where_filters_and_warns(runner: CliRunner, sample_url: str) -> None:
    base = ["compute", ACTIVITY, "--period", "2026-10", "--format", "json", "--warehouse", sample_url, "--no-save"]
    whole = json.loads(invoke(runner, *base)[1])
    smb = json.loads(invoke(runner, *base, "--where", "segment=SMB")[1])
    touches = {d["id"]: d["value"] for d in whole["nodes"]}["logged_touches"]
    smb_touches = {d["id"]: d["value"] for d in smb["nodes"]}["logged_touches"]
    assert 0 < smb_touches < touches
    assert smb["where"] == {"segment": ["SMB"]}
    assert any("rep_capacity has no column segment" in w for w in smb["warnings"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--where", "colour=red"], "no source of tree 'activity_volume_per_contact' has a column 'colour'"),
        (["--where", "segment"], "is not DIM=VALUE"),
        (["--period", "October"], "October"),
    ],
)
def test_compute_usage_errors_exit_1_without_traceback(
    runner: CliRunner, sample_url: str, args: list[str], message: str
) -> None:
    code, out, err = invoke(runner, "compute", ACTIVITY, "--warehouse", sample_url, "--no-save", *args)
    assert code == 1
    assert message in err
    assert "Traceback" not in out + err


def test_compute_on_a_missing_table_says_what_to_load(runner: CliRunner, tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    code, _, err = invoke(runner, "compute", ACTIVITY, "--warehouse", url, "--no-save")
    assert code == 1
    assert f"there is no DuckDB warehouse at {tmp_path / 'empty.duckdb'}" in err  # reads create nothing
    assert not (tmp_path / "empty.duckdb").exists()
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    code, _, err = invoke(runner, "compute", ACTIVITY, "--warehouse", url, "--no-save")
    assert code == 1
    assert "has no table 'rep_capacity'" in err
    assert "kpitree load" in err


def _holding(path: str, read_only: bool) -> subprocess.Popen[str]:
    """Another process with the DuckDB file open, until killed."""
    opened = f"duckdb.connect({path!r}, read_only={read_only})"
    code = f"import duckdb, time; c = {opened}; print('ready', flush=True); time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def test_duckdb_readers_share_the_warehouse_and_a_writer_is_named(runner: CliRunner, sample_url: str) -> None:
    path = sample_url.removeprefix("duckdb:///")
    for read_only in (True, False):
        other = _holding(path, read_only)
        try:
            code, _, err = invoke(runner, "compute", ACTIVITY, "--warehouse", sample_url, "--no-save")
        finally:
            other.kill()
            other.wait()
        assert "Traceback" not in err
        if read_only:
            assert code == 0, err  # compute opens the file read-only: readers do not lock each other out
        else:
            assert code == 1
            assert f"is held by process {other.pid}" in err
            assert "wait for that process" in err


def test_rerunning_a_period_replaces_its_values_and_keeps_the_runs(
    runner: CliRunner, sample_url: str, tmp_path: Path
) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    for _ in range(2):
        assert (
            invoke(runner, "compute", ACTIVITY, "--period", "2026-10", "--warehouse", sample_url, "--state-db", state)[
                0
            ]
            == 0
        )
    assert (
        invoke(runner, "compute", ACTIVITY, "--period", "2026-09", "--warehouse", sample_url, "--state-db", state)[0]
        == 0
    )
    store = StateStore.open(state)
    runs = store.runs(ACTIVITY)
    assert [r.period_label for r in runs] == ["2026-10", "2026-10", "2026-09"]
    values = store.values(ACTIVITY)
    assert len(values) == 2 * 14  # two periods x fourteen nodes, not three runs' worth
    october = [v for v in values if v.period_start.isoformat() == "2026-10-01"]
    assert {v.run_id for v in october} == {runs[1].id}


def test_check_passes_on_real_data_and_fails_on_a_leaky_split(
    runner: CliRunner, sample_url: str, tmp_path: Path
) -> None:
    code, out, _ = invoke(runner, "check", ACTIVITY, "--last", "3", "--warehouse", sample_url)
    assert code == 0, out
    assert "all hold" in out
    # Calls and emails only: social, task and meeting touches fall through the split.
    leaky = (TREES / f"{ACTIVITY}.yaml").read_text(encoding="utf-8")
    start = leaky.index("        - id: meeting_touches")
    end = leaky.index("  - id: active_contacts")
    tree_file = tmp_path / "leaky.yaml"
    tree_file.write_text(leaky[:start] + "\n" + leaky[end:], encoding="utf-8")
    code, out, _ = invoke(runner, "check", str(tree_file), "--period", "2026-10", "--warehouse", sample_url)
    assert code == 1
    assert "logged_touches" in out
    assert "FAILS" in out


def test_sample_data_is_deterministic(runner: CliRunner, tmp_path: Path) -> None:
    def checksum(name: str, seed: str) -> list[tuple[object, ...]]:
        path = tmp_path / f"{name}.duckdb"
        assert (
            invoke(runner, "sample-data", "--size", "2000", "--seed", seed, "--warehouse", f"duckdb:///{path}")[0] == 0
        )
        with duckdb.connect(str(path)) as db:
            return [
                db.execute(f"SELECT count(*), sum(hash(t)) FROM {table} t").fetchone() or ()
                for table in ("activities", "signals", "rep_capacity", "accounts", "outcomes")
            ]

    assert checksum("a", "3") == checksum("b", "3")
    assert checksum("a", "3") != checksum("c", "4")


def test_sample_data_holds_what_the_tree_must_exclude(sample_url: str) -> None:
    with duckdb.connect(sample_url.removeprefix("duckdb:///")) as db:
        kinds = dict(db.execute("SELECT kind, count(*) FROM activities GROUP BY kind").fetchall())
        duplicates = db.execute(
            "SELECT count(*) FROM (SELECT external_id FROM activities GROUP BY external_id HAVING count(*) > 1)"
        ).fetchone()
    assert kinds["internal_note"] > 0
    assert kinds["system_event"] > 0
    assert duplicates is not None
    assert duplicates[0] > 0


def test_load_reports_bad_rows_and_loads_nothing(runner: CliRunner, engine: str, tmp_path: Path) -> None:
    data = tmp_path / "capacity.csv"
    data.write_text(
        "rep_id,day,selling_hours,admin_hours\nr1,2026-10-01,5,2\nr2,2026-10-32,4,1\nr3,2026-10-02,four,1\nr4,2026-10-05,3,\n",
        encoding="utf-8",
    )
    with engine_url(engine, tmp_path) as url:
        code, _, err = invoke(runner, "load", str(data), "--table", "rep_capacity", "--warehouse", url)
        assert code == 1
        assert "row 2 (line 3): day = '2026-10-32' is not a date" in err
        assert "row 3 (line 4): selling_hours = 'four' is not a number" in err
        assert "nothing was loaded" in err
        code, out, err = invoke(
            runner, "load", str(data), "--table", "rep_capacity", "--warehouse", url, "--skip-bad-rows"
        )
        assert code == 0
        assert "loaded 2 rows" in out
        rejects = list(csv.DictReader((tmp_path / "capacity.csv.rejects.csv").open(encoding="utf-8")))
        assert [(r["_row"], r["rep_id"]) for r in rejects] == [("2", "r2"), ("3", "r3")]
        code, out, _ = invoke(runner, "compute", ACTIVITY, "--warehouse", url, "--no-save")
        assert code == 1  # rep_capacity alone is not enough: the activities table is missing


def test_load_rejects_a_file_without_contract_columns(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "acts.csv"
    data.write_text("id,who\n1,a\n", encoding="utf-8")
    code, _, err = invoke(
        runner, "load", str(data), "--table", "activities", "--warehouse", f"duckdb:///{tmp_path / 'w.duckdb'}"
    )
    assert code == 1
    assert "lacks the activities contract's column(s)" in err
    code, out, _ = invoke(
        runner,
        "load",
        str(data),
        "--table",
        "raw_acts",
        "--no-contract",
        "--warehouse",
        f"duckdb:///{tmp_path / 'w.duckdb'}",
    )
    assert code == 0
    assert "loaded 1 rows" in out


def test_demo_runs_end_to_end(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke(runner, "demo", "--size", "3000")
    assert code == 0, err
    assert "Activity volume per contact: 2026-10" in out
    assert "Contact engagement score: 2026-W43" in out
    assert out.count("all hold") == 2
    # The sample's planted cell (a CRM migration in EMEA's SMB team), named by the run's drill.
    assert any(line.startswith("where it moved: Selling hours per rep") for line in out.splitlines())
    assert "of it is team=SMB, region=EMEA" in " ".join(out.split())
    # ... and by the alert the owners of selling time receive.
    outbox = tmp_path / ".kpitree" / "demo" / "outbox"
    bodies = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in outbox.glob("*.eml")]
    texts = [" ".join(b.get_content().split()) for m in bodies if (b := m.get_body(preferencelist=("plain",)))]
    assert any(re.search(r"Where it moved: Selling hours per rep .*\d+% of it team=SMB, region=EMEA", t) for t in texts)
    runs = StateStore.open(f"sqlite:///{tmp_path / '.kpitree/demo/state.db'}").runs(ACTIVITY)
    # One run of October; the other periods its trend and alert history computed are kept beside it.
    assert [r.period_label for r in runs if r.comparison is not None] == ["2026-10"]
    months = ["2025-10", "2025-11", "2025-12", *(f"2026-{m:02d}" for m in range(1, 11))]
    assert sorted(r.period_label for r in runs) == months


def test_load_fills_optional_contract_columns_with_null(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "signals.csv"
    data.write_text("contact_id,signal_type,occurred_at\nc1,login,2026-10-20 10:00:00+01:00\n", encoding="utf-8")
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    code, out, err = invoke(runner, "load", str(data), "--table", "signals", "--warehouse", url)
    assert code == 0, err
    assert "loaded 1 rows" in out
    with duckdb.connect(str(tmp_path / "w.duckdb")) as db:
        row = db.execute("SELECT contact_id, quantity, timezone('UTC', occurred_at) FROM signals").fetchone()
    assert row is not None
    assert row[:2] == ("c1", None)
    assert str(row[2]) == "2026-10-20 09:00:00"
