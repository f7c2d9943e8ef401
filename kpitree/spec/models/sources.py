"""Sources: where a measure's rows live, how their columns map to the data contract, which rows count."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from kpitree.spec.models.base import Identifier, Scalar, SpecModel

FilterOp = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "is_null"]
_OPS: tuple[str, ...] = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "is_null")


class FilterCondition(SpecModel):
    """One condition on one column. Written in YAML as a scalar (equals), a list (in), or
    ``{op: value}`` such as ``{not_in: [a, b]}`` or ``{gt: 0}`` or ``{is_null: false}``."""

    op: FilterOp
    value: Scalar | list[Scalar] | None


def _coerce_condition(value: Any) -> Any:
    if isinstance(value, FilterCondition):
        return value
    if isinstance(value, list):
        return {"op": "in", "value": value}
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(f"write exactly one operator per column, got {sorted(value)}; ops: {', '.join(_OPS)}")
        ((op, operand),) = value.items()
        if op not in _OPS:
            raise ValueError(f"unknown filter operator {op!r}; use one of {', '.join(_OPS)}")
        if op in ("in", "not_in") and not isinstance(operand, list):
            raise ValueError(f"{op!r} takes a list of values")
        return {"op": op, "value": operand}
    return {"op": "eq", "value": value}


_CONDITION_SCHEMA = {
    "description": "a value (equals), a list (in), or one operator: " + ", ".join(f"{{{op}: ...}}" for op in _OPS),
    "anyOf": [
        {"type": ["string", "number", "boolean"]},
        {"type": "array", "items": {"type": ["string", "number", "boolean"]}},
        {"type": "object", "minProperties": 1, "maxProperties": 1, "propertyNames": {"enum": list(_OPS)}},
    ],
}

Condition = Annotated[FilterCondition, BeforeValidator(_coerce_condition), WithJsonSchema(_CONDITION_SCHEMA)]

# ``where: {kind: touch, channel: [call, email]}``: every condition must hold (AND).
WhereClause = dict[str, Condition]


class JoinSpec(SpecModel):
    """Bring another source's columns in, matched on a shared key (e.g. accounts on account_id)."""

    source: Identifier
    on: str


class SourceSpec(SpecModel):
    table: str | None = Field(default=None, description="warehouse table (schema.table allowed)")
    file: str | None = Field(default=None, description="CSV or Parquet path, relative to the tree file")
    contract: Literal["activities", "rep_capacity", "signals", "accounts", "outcomes"] | None = Field(
        default=None, description="data-contract table this source follows; its columns become available"
    )
    columns: dict[str, str | None] = Field(
        default_factory=dict,
        description="column name used in the tree -> the warehouse's column name (null: the same name). "
        "A source without a contract must list every column it uses here.",
    )
    time_column: str | None = Field(default=None, description="column that places a row in a period")
    time_format: str | None = Field(
        default=None,
        description="how to read a time column held as text, in strptime codes, e.g. '%m/%d/%Y %I:%M %p'",
    )
    where: WhereClause = Field(default_factory=dict, description="rows every measure on this source keeps")
    dedupe: list[str] = Field(
        default_factory=list, description="columns identifying one real record: duplicates count once"
    )
    joins: list[JoinSpec] = Field(default_factory=list)
