"""Commands that write to the warehouse: sample-data and load."""

from __future__ import annotations

from pathlib import Path

import click

from kpitree.cli.options import warehouse_option
from kpitree.cli.plain import echo
from kpitree.cli.progress import Shown
from kpitree.load import describe_rejects, load_file
from kpitree.sample import SampleSpec, write_sample
from kpitree.warehouse import open_warehouse


@click.command("sample-data")
@click.option("--seed", type=int, default=SampleSpec.seed, show_default=True, help="Same seed, same data.")
@click.option(
    "--size",
    type=click.IntRange(min=1000),
    default=SampleSpec.activities,
    show_default=True,
    help="About how many activities; contacts, accounts, reps and signals scale with it.",
)
@click.option("--end", default=SampleSpec.end, show_default=True, help="The last of the twelve months generated.")
@click.option(
    "--parquet",
    "parquet_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also write each table as DIR/<table>.parquet.",
)
@click.option("--no-warehouse", is_flag=True, help="Write only the files (Parquet, or --crm's CSVs).")
@click.option(
    "--crm",
    "crm_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Instead: raw CRM exports for trees/examples (Salesforce, HubSpot, product events, Stripe) as CSVs "
    "in DIR, loaded typed into the warehouse (see docs/examples.md).",
)
@warehouse_option
def sample_data(
    seed: int,
    size: int,
    end: str,
    parquet_dir: Path | None,
    no_warehouse: bool,
    crm_dir: Path | None,
    warehouse: str | None,
) -> None:
    """Generate a realistic, deterministic sample warehouse (tables are replaced).

    Twelve months of accounts, contacts, rep capacity, activities (with internal notes, system
    events and duplicate syncs to exclude), engagement signals and renewal outcomes, with a few
    movements planted in the last month for attribution and alerts to find.
    """
    if crm_dir is not None:
        _crm_sample(crm_dir, seed, end, None if no_warehouse else warehouse, no_warehouse)
        return
    spec = SampleSpec(seed=seed, activities=size, end=end)
    target = None if no_warehouse else open_warehouse(warehouse, writable=True)
    try:
        with Shown("kpitree sample-data") as progress:
            counts = write_sample(spec, target, parquet_dir, progress)
    finally:
        if target is not None:
            target.dispose()
    where = [] if target is None else [target.display_url]
    if parquet_dir is not None:
        where.append(str(parquet_dir))
    echo(f"sample data (seed {seed}, up to {end}) written to {' and '.join(where)}:")
    for table, rows in counts.items():
        echo(f"  {table:<13} {rows:>12,} rows")


def _crm_sample(folder: Path, seed: int, end: str, warehouse: str | None, files_only: bool) -> None:
    from kpitree.sample.crm import CrmSpec, load_crm_exports, write_crm_exports

    counts = write_crm_exports(CrmSpec(seed=seed, end=end), folder)
    echo(f"CRM exports (seed {seed}, up to {end}) written to {folder}:")
    for name, rows in counts.items():
        echo(f"  {name:<24} {rows:>8,} rows")
    if files_only:
        return
    target = open_warehouse(warehouse, writable=True)
    try:
        loaded = load_crm_exports(folder, target)
    finally:
        target.dispose()
    echo(f"loaded into {target.display_url} as {', '.join(loaded)}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--table", required=True, help="Warehouse table to create or replace.")
@click.option("--contract", default=None, help="Contract table whose types to check [default: --table, if one].")
@click.option("--no-contract", is_flag=True, help="Load the columns as they are, without type checks.")
@click.option(
    "--infer-types",
    is_flag=True,
    help="Type a CSV's columns (outside the contract's) as DuckDB's sniffer reads the whole file: numbers, "
    "dates, timestamps, booleans; the rest stays text.",
)
@click.option("--skip-bad-rows", is_flag=True, help="Load the good rows; write the rejected ones to a rejects file.")
@click.option(
    "--allow-empty", is_flag=True, help="Replace the table even when the file has no rows (refused otherwise)."
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where rejected rows go [default: FILE.rejects.csv].",
)
@warehouse_option
def load(
    file: Path,
    table: str,
    contract: str | None,
    no_contract: bool,
    infer_types: bool,
    skip_bad_rows: bool,
    allow_empty: bool,
    rejects: Path | None,
    warehouse: str | None,
) -> None:
    """Load a CSV or Parquet FILE into a warehouse table, checking the data contract's types.

    A row with a value that does not fit its column's type (or a NaN or infinite number, or a
    blank required column) is reported with its row number, its line, the column, the value and
    the type expected. Without --skip-bad-rows nothing is loaded then (exit 1). A CSV file is read
    as RFC 4180 (comma, double quotes); a repeated header name or a row whose fields do not match
    the header is refused. A file without rows leaves the table as it was, unless --allow-empty.
    """
    target = open_warehouse(warehouse, writable=True)
    try:
        report = load_file(
            file, table, target, contract, not no_contract, skip_bad_rows, rejects, allow_empty, infer_types
        )
    finally:
        target.dispose()
    echo(f"loaded {report.loaded:,} rows into {table} ({target.display_url})")
    if report.rejected:
        rows = len({r.row for r in report.rejected})
        echo(f"rejected {rows:,} row(s), kept with their problems in {report.rejects_file}:", err=True)
        echo(describe_rejects(report), err=True)
