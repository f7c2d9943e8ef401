"""Which columns a source offers: its contract's, those it maps, and those of the sources it joins."""

from __future__ import annotations

from kpitree.data_contract import contract_columns
from kpitree.spec.models import SourceSpec, TreeFileSpec

# Where a contract table keeps the time that places a row in a period.
DEFAULT_TIME_COLUMNS = {
    "activities": "occurred_at",
    "rep_capacity": "day",
    "signals": "occurred_at",
    "outcomes": "decided_at",
}


def own_columns(source: SourceSpec) -> frozenset[str]:
    """Columns a source itself offers, under the names the tree uses."""
    contract = contract_columns(source.contract) if source.contract else ()
    return frozenset(contract) | frozenset(source.columns)


def available_columns(spec: TreeFileSpec, source_id: str) -> frozenset[str] | None:
    """Columns usable on ``source_id``, joined sources included; None if the source is unknown."""
    source = spec.sources.get(source_id)
    if source is None:
        return None
    columns = set(own_columns(source))
    for join in source.joins:
        joined = spec.sources.get(join.source)
        if joined is not None:
            columns |= own_columns(joined)
    return frozenset(columns)


def time_column(source: SourceSpec) -> str | None:
    """The source's time column: declared, or the contract's default; None for an untimed source."""
    if source.time_column:
        return source.time_column
    if is_untimed(source) or source.is_point_in_time:
        return None
    return DEFAULT_TIME_COLUMNS.get(source.contract or "")


def is_untimed(source: SourceSpec) -> bool:
    """``time_column: null`` written on purpose: every row counts in every period (a roster, a price
    list), rather than a time column forgotten."""
    return "time_column" in source.model_fields_set and source.time_column is None
