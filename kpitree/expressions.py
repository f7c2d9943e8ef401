"""The column-expression language of computed columns (``columns: {x: {expr: ...}}``).

The formula language's kind: parsed with Python's own parser (``ast``, expression mode) and
converted node by node against a whitelist into the frozen classes below; nothing is evaluated by
Python, and nothing a tree writes becomes raw SQL (it is compiled with SQLAlchemy for each engine,
see :mod:`kpitree.compute.derived`).

What it has: column names; numbers, 'text', true/false and none; ``+ - * /`` (``/`` is always a
real division); comparisons ``== != < <= > >=``; ``and``, ``or``, ``not``; and the functions

- ``coalesce(a, b, ...)``: the first that is not NULL;
- ``hours_between(start, end)``, ``days_between(start, end)``: end minus start, fractional;
- ``date_part('month', t)``: one of year, month, day, hour, dow (0 = Sunday);
- ``lower(text)``;
- ``case(condition, value, condition, value, ..., default)``: the value of the first condition
  that holds, else the default;
- ``map(column, {'Web': 'Inbound', 'Partner': 'Inbound'}, 'Other')``: a value mapping, with an
  optional default (NULL when left out).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from kpitree.errors import UserError

MAX_EXPRESSION_LENGTH: Final = 2000
MAX_EXPRESSION_DEPTH: Final = 40
DATE_PARTS: Final = frozenset({"year", "month", "day", "hour", "dow"})

Literal = str | int | float | bool | None


class ExpressionError(UserError, ValueError):
    """An expression outside the language; ``offset`` is the 0-based column in its text."""

    def __init__(self, message: str, offset: int, hint: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.hint: str = hint


@dataclass(frozen=True)
class Column:
    name: str
    offset: int


@dataclass(frozen=True)
class Constant:
    value: Literal


@dataclass(frozen=True)
class Arithmetic:
    op: str  # + - * /
    left: Expression
    right: Expression


@dataclass(frozen=True)
class Negative:
    operand: Expression


@dataclass(frozen=True)
class Comparison:
    op: str  # == != < <= > >=
    left: Expression
    right: Expression


@dataclass(frozen=True)
class Logical:
    op: str  # and | or
    operands: tuple[Expression, ...]


@dataclass(frozen=True)
class Not:
    operand: Expression


@dataclass(frozen=True)
class Function:
    name: str  # coalesce | hours_between | days_between | date_part | lower
    args: tuple[Expression, ...]


@dataclass(frozen=True)
class Case:
    branches: tuple[tuple[Expression, Expression], ...]  # (condition, value)
    default: Expression


@dataclass(frozen=True)
class ValueMap:
    subject: Expression
    pairs: tuple[tuple[Literal, Literal], ...]
    default: Literal


Expression = Column | Constant | Arithmetic | Negative | Comparison | Logical | Not | Function | Case | ValueMap

_ARITHMETIC: Final[dict[type[ast.operator], str]] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMPARISONS: Final[dict[type[ast.cmpop], str]] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_ARITY: Final = {"hours_between": 2, "days_between": 2, "date_part": 2, "lower": 1}
FUNCTIONS: Final = frozenset({"coalesce", "case", "map", *_ARITY})
_HINT: Final = (
    "use column names, numbers, 'text', + - * /, comparisons, and/or/not, and "
    "coalesce, hours_between, days_between, date_part, lower, case, map"
)
_NAMED_CONSTANTS: Final[dict[str, Literal]] = {"true": True, "false": False, "none": None, "null": None}


def parse_expression(text: str) -> Expression:
    """Parse ``text`` into an expression, or raise :class:`ExpressionError` pointing at its column."""
    if not text.strip():
        raise ExpressionError("empty expression", 0, "write e.g. hours_between(CreatedDate, first_touch_at)")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_EXPRESSION_LENGTH:,} characters", 0, _HINT)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression nests too deeply to parse", 0, _HINT) from None
    except SyntaxError as exc:
        raise ExpressionError(f"not a valid expression: {exc.msg}", max((exc.offset or 1) - 1, 0), _HINT) from None
    lead = len(text) - len(text.lstrip())
    _check_depth(tree.body, lead)
    return _Converter(lead).convert(tree.body)


def columns_of(expression: Expression) -> tuple[Column, ...]:
    """Every column the expression reads, in order of appearance (repeats included)."""
    return tuple(e for e in _walk(expression) if isinstance(e, Column))


def _walk(expression: Expression) -> Iterator[Expression]:
    yield expression
    children: tuple[Expression, ...] = ()
    if isinstance(expression, Arithmetic | Comparison):
        children = (expression.left, expression.right)
    elif isinstance(expression, Negative | Not):
        children = (expression.operand,)
    elif isinstance(expression, Logical):
        children = expression.operands
    elif isinstance(expression, Function):
        children = expression.args
    elif isinstance(expression, Case):
        children = (*(part for branch in expression.branches for part in branch), expression.default)
    elif isinstance(expression, ValueMap):
        children = (expression.subject,)
    for child in children:
        yield from _walk(child)


def _check_depth(root: ast.expr, lead: int) -> None:
    stack: list[tuple[ast.AST, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXPRESSION_DEPTH:
            column = getattr(node, "col_offset", 0) + lead
            raise ExpressionError(f"the expression nests more than {MAX_EXPRESSION_DEPTH} levels deep", column, _HINT)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


class _Converter:
    def __init__(self, lead: int) -> None:
        self.lead = lead

    def fail(self, node: ast.AST, message: str, hint: str = _HINT) -> ExpressionError:
        return ExpressionError(message, getattr(node, "col_offset", 0) + self.lead, hint)

    def convert(self, node: ast.expr) -> Expression:
        if isinstance(node, ast.Constant):
            return Constant(self.literal(node))
        if isinstance(node, ast.Name):
            if node.id.lower() in _NAMED_CONSTANTS:
                return Constant(_NAMED_CONSTANTS[node.id.lower()])
            if node.id in FUNCTIONS:
                raise self.fail(node, f"{node.id!r} is a function; call it: {node.id}(...)")
            return Column(node.id, node.col_offset + self.lead)
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            return Arithmetic(_ARITHMETIC[type(node.op)], self.convert(node.left), self.convert(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            operand = self.convert(node.operand)
            return Negative(operand) if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return Not(self.convert(node.operand))
        if isinstance(node, ast.BoolOp):
            return Logical("and" if isinstance(node.op, ast.And) else "or", tuple(self.convert(v) for v in node.values))
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARISONS:
                raise self.fail(node, "write one comparison at a time (a < b and b < c), with == != < <= > >=")
            return Comparison(
                _COMPARISONS[type(node.ops[0])], self.convert(node.left), self.convert(node.comparators[0])
            )
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(node, f"{type(node).__name__.lower()} is not allowed in an expression")

    def literal(self, node: ast.Constant) -> Literal:
        value = node.value
        if value is None or isinstance(value, bool | int | float | str):
            return value
        raise self.fail(node, f"{value!r} is not a number, text, true, false or none")

    def call(self, node: ast.Call) -> Expression:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise self.fail(
                node, "only coalesce, hours_between, days_between, date_part, lower, case and map are functions"
            )
        if node.keywords:
            raise self.fail(node, "functions take positional arguments only")
        name, args = node.func.id, node.args
        if name == "map":
            return self.mapping(node)
        if name == "case":
            if len(args) < 3 or len(args) % 2 == 0:
                raise self.fail(
                    node, "case takes pairs of condition and value, then a default: case(c1, v1, c2, v2, d)"
                )
            parts = [self.convert(a) for a in args]
            pairs = tuple((parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2))
            return Case(pairs, parts[-1])
        if name == "coalesce":
            if len(args) < 2:
                raise self.fail(node, "coalesce takes two or more arguments")
        elif len(args) != _ARITY[name]:
            raise self.fail(node, f"{name} takes {_ARITY[name]} argument(s)")
        if name == "date_part":
            part = args[0]
            if not isinstance(part, ast.Constant) or part.value not in DATE_PARTS:
                raise self.fail(
                    part, f"date_part's first argument is one of {', '.join(sorted(DATE_PARTS))}, in quotes"
                )
        return Function(name, tuple(self.convert(a) for a in args))

    def mapping(self, node: ast.Call) -> ValueMap:
        args = node.args
        if len(args) not in (2, 3) or not isinstance(args[1], ast.Dict):
            raise self.fail(node, "map takes a column, a mapping {'a': 'x', ...} and an optional default")
        pairs = []
        for key, value in zip(args[1].keys, args[1].values, strict=True):
            if not isinstance(key, ast.Constant) or not isinstance(value, ast.Constant):
                raise self.fail(value, "a map's keys and values are numbers or 'text'")
            pairs.append((self.literal(key), self.literal(value)))
        default: Literal = None
        if len(args) == 3:
            if not isinstance(args[2], ast.Constant):
                raise self.fail(args[2], "a map's default is a number or 'text'")
            default = self.literal(args[2])
        return ValueMap(self.convert(args[0]), tuple(pairs), default)
