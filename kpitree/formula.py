"""The formula language: ``+ - * /``, parentheses, numbers, node ids, ``min max abs coalesce``.

Formulas are parsed with Python's own parser (``ast.parse``, expression mode) and the syntax tree
is converted node by node against a whitelist into the frozen :data:`Expr` classes below. Nothing
is ever evaluated by Python: an attribute, a subscript, a keyword argument or any other construct
is a :class:`FormulaSyntaxError` pointing at its column.

Evaluation never raises and never yields inf or NaN: a division by zero or a missing input gives
``value=None`` with a reason a person can read.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from kpitree.errors import UserError

FUNCTIONS: Final = frozenset({"min", "max", "abs", "coalesce"})

# Bounds that keep parsing, attribution and SQL compilation of a hostile formula quick and within
# Python's recursion limit; the shipped trees' longest formula is 60 characters and 2 levels deep.
MAX_FORMULA_LENGTH: Final = 2000
MAX_FORMULA_DEPTH: Final = 50


class FormulaSyntaxError(UserError, ValueError):
    """A formula that is not in the language. ``offset`` is the 0-based column in the formula."""

    def __init__(self, message: str, offset: int, hint: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.hint: str = hint


class FormulaTooComplex(FormulaSyntaxError):
    """A formula past :data:`MAX_FORMULA_LENGTH` or :data:`MAX_FORMULA_DEPTH`."""


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Ref:
    """A reference to another node's value, by node id."""

    name: str
    offset: int


@dataclass(frozen=True)
class Neg:
    operand: Expr


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * /
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call:
    function: str  # one of FUNCTIONS
    args: tuple[Expr, ...]


Expr = Number | Ref | Neg | BinOp | Call

_FRIENDLY: Final = {
    "Attribute": "attribute access (a.b)",
    "Subscript": "indexing (a[b])",
    "Compare": "a comparison",
    "BoolOp": "and/or",
    "IfExp": "if/else",
    "Lambda": "lambda",
    "Constant": "this constant",
    "Pow": "**",
    "Mod": "%",
    "FloorDiv": "//",
    "BitAnd": "&",
    "BitOr": "|",
    "BitXor": "^",
    "MatMult": "@",
}

_BINOPS: Final[dict[type[ast.operator], str]] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def parse_formula(text: str) -> Expr:
    """Parse ``text`` into an expression tree, or raise :class:`FormulaSyntaxError`."""
    if not text.strip():
        raise FormulaSyntaxError("empty formula", 0, "write an expression such as 'a / b'")
    if len(text) > MAX_FORMULA_LENGTH:
        raise FormulaTooComplex(
            f"formula is {len(text):,} characters long; at most {MAX_FORMULA_LENGTH:,}", 0, _SIMPLER
        )
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (RecursionError, MemoryError):
        # CPython's parser gives up on very deep nesting before our depth check could run.
        raise FormulaTooComplex("formula nests too deeply to parse", 0, _SIMPLER) from None
    except SyntaxError as exc:
        offset = max((exc.offset or 1) - 1, 0)
        raise FormulaSyntaxError(
            f"formula is not a valid expression: {exc.msg}",
            offset,
            "use node ids, numbers, + - * /, parentheses and min/max/abs/coalesce(...)",
        ) from None
    lead = len(text) - len(text.lstrip())
    _check_depth(tree.body, lead)
    return _convert(tree.body, lead)


_SIMPLER: Final = "name intermediate results as nodes of their own, or sum branches with a split"


def _check_depth(root: ast.expr, lead: int) -> None:
    """Refuse a syntax tree deeper than MAX_FORMULA_DEPTH, walking it without recursion."""
    stack: list[tuple[ast.AST, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_FORMULA_DEPTH:
            column = getattr(node, "col_offset", 0) + lead
            raise FormulaTooComplex(
                f"formula nests more than {MAX_FORMULA_DEPTH} operations deep (a + b + c ... counts one per term)",
                column,
                _SIMPLER,
            )
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr))


def _convert(node: ast.expr, lead: int) -> Expr:
    col = node.col_offset + lead
    # bool is an int subclass: True must not sneak in as 1.
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return Number(float(node.value))
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise FormulaSyntaxError(f"{node.id!r} is a function; call it: {node.id}(...)", col, "write e.g. max(a, b)")
        return Ref(node.id, col)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _convert(node.operand, lead)
        return Neg(operand) if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return BinOp(_BINOPS[type(node.op)], _convert(node.left, lead), _convert(node.right, lead))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise FormulaSyntaxError(
                "only min, max, abs and coalesce can be called", col, f"use one of: {', '.join(sorted(FUNCTIONS))}"
            )
        if node.keywords:
            raise FormulaSyntaxError("functions take positional arguments only", col, "remove 'name=' from the call")
        name = node.func.id
        if name == "abs" and len(node.args) != 1:
            raise FormulaSyntaxError("abs takes exactly one argument", col, "write abs(x)")
        if name != "abs" and len(node.args) < 2:
            raise FormulaSyntaxError(f"{name} takes two or more arguments", col, f"write {name}(a, b)")
        return Call(name, tuple(_convert(arg, lead) for arg in node.args))
    what = _FRIENDLY.get(type(node).__name__, type(node).__name__)
    if isinstance(node, ast.BinOp):
        what = f"operator {_FRIENDLY.get(type(node.op).__name__, type(node.op).__name__)}"
    raise FormulaSyntaxError(
        f"{what} is not allowed in a formula",
        col,
        "formulas allow node ids, numbers, + - * /, parentheses and min/max/abs/coalesce",
    )


def walk(expr: Expr) -> Iterator[Expr]:
    """Every sub-expression, depth first, ``expr`` included."""
    yield expr
    if isinstance(expr, Neg):
        yield from walk(expr.operand)
    elif isinstance(expr, BinOp):
        yield from walk(expr.left)
        yield from walk(expr.right)
    elif isinstance(expr, Call):
        for arg in expr.args:
            yield from walk(arg)


def references(expr: Expr) -> tuple[Ref, ...]:
    """Node references in order of appearance (repeats included)."""
    return tuple(e for e in walk(expr) if isinstance(e, Ref))


def referenced_ids(expr: Expr) -> tuple[str, ...]:
    """Distinct node ids referenced, in order of first appearance."""
    return tuple(dict.fromkeys(ref.name for ref in references(expr)))


@dataclass(frozen=True)
class Evaluation:
    """A formula's value, or None and the reason there is none."""

    value: float | None
    reason: str | None = None


def evaluate(expr: Expr, values: Mapping[str, float | None]) -> Evaluation:
    """Evaluate ``expr`` with node values; ``None`` inputs propagate except through coalesce."""
    return _eval(expr, values)


def _missing(reason: str) -> Evaluation:
    return Evaluation(None, reason)


def _eval(expr: Expr, values: Mapping[str, float | None]) -> Evaluation:
    if isinstance(expr, Number):
        return Evaluation(expr.value)
    if isinstance(expr, Ref):
        value = values.get(expr.name)
        return Evaluation(value) if value is not None else _missing(f"{expr.name} has no value")
    if isinstance(expr, Neg):
        inner = _eval(expr.operand, values)
        return inner if inner.value is None else Evaluation(-inner.value)
    if isinstance(expr, Call):
        return _call(expr, values)
    left, right = _eval(expr.left, values), _eval(expr.right, values)
    if left.value is None:
        return left
    if right.value is None:
        return right
    if expr.op == "/" and right.value == 0:
        return _missing(f"division by zero: {describe(expr.right)} is 0")
    result = _ARITHMETIC[expr.op](left.value, right.value)
    return Evaluation(result) if math.isfinite(result) else _missing(f"{describe(expr)} is not finite")


_ARITHMETIC: Final[dict[str, Callable[[float, float], float]]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
}


def _call(expr: Call, values: Mapping[str, float | None]) -> Evaluation:
    results = [_eval(arg, values) for arg in expr.args]
    if expr.function == "coalesce":
        for result in results:
            if result.value is not None:
                return result
        return _missing("coalesce: every argument has no value")
    for result in results:
        if result.value is None:
            return result
    numbers = [r.value for r in results if r.value is not None]
    if expr.function == "abs":
        return Evaluation(abs(numbers[0]))
    return Evaluation(min(numbers) if expr.function == "min" else max(numbers))


def describe(expr: Expr) -> str:
    """Render an expression back to text (fully parenthesised where it matters)."""
    if isinstance(expr, Number):
        return f"{expr.value:g}"
    if isinstance(expr, Ref):
        return expr.name
    if isinstance(expr, Neg):
        return f"-{_operand(expr.operand)}"
    if isinstance(expr, Call):
        return f"{expr.function}({', '.join(describe(a) for a in expr.args)})"
    return f"{_operand(expr.left)} {expr.op} {_operand(expr.right)}"


def _operand(expr: Expr) -> str:
    return f"({describe(expr)})" if isinstance(expr, BinOp) else describe(expr)
