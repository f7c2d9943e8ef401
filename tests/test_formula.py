"""The formula language: what parses, what does not, and evaluation that never yields inf or NaN."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpitree.formula import (
    BinOp,
    Call,
    Expr,
    FormulaSyntaxError,
    Neg,
    Number,
    Ref,
    describe,
    evaluate,
    parse_formula,
    referenced_ids,
)


def test_parses_the_whole_language() -> None:
    expr = parse_formula("-a / (b - 2) + max(c, 1) * abs(d) - coalesce(e, f, 0)")
    assert referenced_ids(expr) == ("a", "b", "c", "d", "e", "f")
    value = evaluate(expr, {"a": 6, "b": 5, "c": 3, "d": -2, "e": None, "f": 4})
    assert value.value == pytest.approx(-6 / 3 + 3 * 2 - 4)


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ("a ** 2", "operator ** is not allowed", 0),
        ("a.b", "attribute access (a.b) is not allowed", 0),
        ("a[0]", "indexing (a[b]) is not allowed", 0),
        ("a if b else c", "if/else is not allowed", 0),
        ("a and b", "and/or is not allowed", 0),
        ("a < b", "a comparison is not allowed", 0),
        ("1 + 'x'", "this constant is not allowed", 4),
        ("open('f')", "only min, max, abs and coalesce can be called", 0),
        ("max(a)", "max takes two or more arguments", 0),
        ("abs(a, b)", "abs takes exactly one argument", 0),
        ("min(a, key=b)", "positional arguments only", 0),
        ("x + max", "'max' is a function", 4),
        ("a +", "not a valid expression", 0),
        ("   ", "empty formula", 0),
        ("True + 1", "this constant is not allowed", 0),
    ],
)
def test_rejects_what_is_outside_the_language(text: str, message: str, offset: int) -> None:
    with pytest.raises(FormulaSyntaxError) as caught:
        parse_formula(text)
    assert message in str(caught.value)
    assert caught.value.offset == offset
    assert caught.value.hint


def test_division_by_zero_gives_no_value_and_a_reason() -> None:
    result = evaluate(parse_formula("touches / contacts"), {"touches": 10, "contacts": 0})
    assert result.value is None
    assert result.reason == "division by zero: contacts is 0"


def test_a_missing_input_names_the_node() -> None:
    result = evaluate(parse_formula("touches / contacts"), {"touches": 10})
    assert (result.value, result.reason) == (None, "contacts has no value")


def test_overflow_gives_no_value_rather_than_inf() -> None:
    result = evaluate(parse_formula("a * b"), {"a": 1e308, "b": 1e308})
    assert result.value is None
    assert result.reason == "a * b is not finite"


names = st.sampled_from(["a", "b", "c", "d"])
leaves: st.SearchStrategy[Expr] = st.one_of(
    st.builds(Number, st.integers(-1000, 1000).map(float)),
    st.builds(lambda n: Ref(n, 0), names),
)


def _extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        st.builds(BinOp, st.sampled_from(["+", "-", "*", "/"]), children, children),
        st.builds(Neg, children),
        st.builds(lambda x: Call("abs", (x,)), children),
        st.builds(lambda f, x, y: Call(f, (x, y)), st.sampled_from(["min", "max", "coalesce"]), children, children),
    )


expressions = st.recursive(leaves, _extend, max_leaves=12)
values = st.dictionaries(names, st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)), max_size=4)


@given(expressions, values)
def test_evaluation_is_finite_or_explained(expr: Expr, inputs: dict[str, float | None]) -> None:
    result = evaluate(expr, inputs)
    if result.value is None:
        assert result.reason
    else:
        assert math.isfinite(result.value)
        assert result.reason is None


@given(expressions, values)
def test_describe_round_trips_through_the_parser(expr: Expr, inputs: dict[str, float | None]) -> None:
    reparsed = parse_formula(describe(expr))
    assert evaluate(reparsed, inputs) == evaluate(expr, inputs)
    assert referenced_ids(reparsed) == referenced_ids(expr)
