"""Sources: where a measure's rows live, how their columns map to the data contract, which rows count."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from kpitree.spec.models.base import Identifier, Scalar, SpecModel

FilterOp = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "is_null", "any"]
_OPS: tuple[str, ...] = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "is_null")
# ``where: {any: [{stage: Won}, {amount: {gt: 0}}]}``: one of the alternatives holds (OR). The key is
# reserved: a column named 'any' is mapped under another name.
ANY = "any"


class FilterCondition(SpecModel):
    """One condition on one column. Written in YAML as a scalar (equals), a list (in), or
    ``{op: value}`` such as ``{not_in: [a, b]}`` or ``{gt: 0}`` or ``{is_null: false}``. Under the
    key ``any``, op ``any`` and a list of alternatives, each a where of its own."""

    op: FilterOp
    value: Scalar | list[Scalar] | list[dict[str, Condition]] | None


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
FilterCondition.model_rebuild()


def _coerce_where(value: Any) -> Any:
    if not isinstance(value, dict) or ANY not in value:
        return value
    alternatives = value[ANY]
    if not isinstance(alternatives, list) or not alternatives or not all(isinstance(a, dict) for a in alternatives):
        raise ValueError("any: takes a list of mappings, each one alternative: [{stage: Won}, {amount: {gt: 0}}]")
    if any(ANY in alternative for alternative in alternatives):
        raise ValueError("an 'any' cannot hold another 'any': write the alternatives out in one list")
    return {**{k: v for k, v in value.items() if k != ANY}, ANY: FilterCondition(op="any", value=alternatives)}


_WHERE_SCHEMA = {
    "type": "object",
    "description": "column: condition, every one holding (AND); 'any' takes a list of such mappings (OR)",
    "properties": {ANY: {"type": "array", "items": {"type": "object", "additionalProperties": _CONDITION_SCHEMA}}},
    "additionalProperties": _CONDITION_SCHEMA,
}

# ``where: {kind: touch, channel: [call, email]}``: every condition must hold (AND).
WhereClause = Annotated[dict[str, Condition], BeforeValidator(_coerce_where), WithJsonSchema(_WHERE_SCHEMA)]


def where_columns(where: dict[str, FilterCondition]) -> frozenset[str]:
    """The columns a where reads, those of its 'any' alternatives included."""
    names = {name for name in where if name != ANY}
    alternatives = where[ANY].value if ANY in where else []
    for alternative in alternatives if isinstance(alternatives, list) else []:
        if isinstance(alternative, dict):
            names |= set(alternative)
    return frozenset(names)


class ComputedColumnSpec(SpecModel):
    """A column computed from the source's others: ``{expr: "hours_between(CreatedDate, first_touch_at)"}``."""

    expr: str = Field(description="an expression over the source's columns (see docs/tree-spec.md)")


class RollupSpec(SpecModel):
    """A parent row's aggregate over a related source's rows, like a Salesforce roll-up summary:
    ``{source: tasks, on: {WhoId: Id}, agg: min, column: CreatedDate, where: {Type: Call}}``."""

    source: Identifier = Field(description="the related source, whose rows are aggregated")
    on: dict[str, str] = Field(description="{its column: this source's column}: which of its rows belong to a row here")
    agg: Literal["count", "sum", "min", "max"]
    column: str | None = Field(default=None, description="the related source's column; not for count")
    where: WhereClause = Field(default_factory=dict, description="which related rows count (besides its own where)")


class RollupColumnSpec(SpecModel):
    rollup: RollupSpec


# A tree's name for a column: the warehouse's name (null: the same), or a column kpitree derives.
ColumnSpec = str | None | ComputedColumnSpec | RollupColumnSpec


class JoinSpec(SpecModel):
    """Bring another source's columns in, matched on a shared key (e.g. accounts on account_id)."""

    source: Identifier
    on: str


class SourceSpec(SpecModel):
    table: str | None = Field(default=None, description="warehouse table (schema.table allowed)")
    file: str | None = Field(default=None, description="CSV or Parquet path, relative to the tree file")
    contract: Literal["activities", "rep_capacity", "signals", "accounts", "reps", "outcomes"] | None = Field(
        default=None, description="data-contract table this source follows; its columns become available"
    )
    columns: dict[str, ColumnSpec] = Field(
        default_factory=dict,
        description="column name used in the tree -> the warehouse's column name (null: the same name), "
        "or {expr: ...} (computed) or {rollup: {...}} (a related source's aggregate). "
        "A source without a contract must list every column it uses here.",
    )

    @property
    def is_point_in_time(self) -> bool:
        """Rows hold from valid_from until valid_to (subscriptions, assignments): measured at an instant."""
        return self.valid_from is not None

    def physical_columns(self) -> dict[str, str]:
        """Tree name -> warehouse name, for the columns the warehouse has (not the derived ones)."""
        return {
            name: (target or name) for name, target in self.columns.items() if target is None or isinstance(target, str)
        }

    def computed_columns(self) -> dict[str, ComputedColumnSpec]:
        return {name: spec for name, spec in self.columns.items() if isinstance(spec, ComputedColumnSpec)}

    def rollup_columns(self) -> dict[str, RollupSpec]:
        return {name: spec.rollup for name, spec in self.columns.items() if isinstance(spec, RollupColumnSpec)}

    time_column: str | None = Field(
        default=None, description="column that places a row in a period (null: every row counts in every period)"
    )
    valid_from: str | None = Field(
        default=None, description="point-in-time source: when a row starts to hold (instead of a time column)"
    )
    valid_to: str | None = Field(
        default=None, description="point-in-time source: when it stops holding (NULL: it still holds)"
    )
    time_format: str | None = Field(
        default=None,
        description="how to read a time column held as text, in strptime codes, e.g. '%m/%d/%Y %I:%M %p'",
    )
    where: WhereClause = Field(default_factory=dict, description="rows every measure on this source keeps")
    dedupe: list[str] = Field(
        default_factory=list, description="columns identifying one real record: duplicates count once"
    )
    joins: list[JoinSpec] = Field(default_factory=list)
