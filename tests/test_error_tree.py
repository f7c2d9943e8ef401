"""Every exception kpitree raises on purpose is in the KpitreeError tree drawn in kpitree.errors,
so the CLI can tell a user's mistake (exit 1) from a bug (exit 70) by family alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kpitree.alert.templates import TemplateError
from kpitree.analysis.methods import AttributionError, lmdi
from kpitree.delivery.channels import DeliveryFailure
from kpitree.errors import KpitreeError, UserError
from kpitree.expressions import ExpressionError
from kpitree.formula import FormulaSyntaxError, FormulaTooComplex, parse_formula

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("error", "family"),
    [
        (TemplateError, UserError),
        (FormulaSyntaxError, UserError),
        (FormulaTooComplex, UserError),
        (ExpressionError, UserError),
        (AttributionError, KpitreeError),
        (DeliveryFailure, KpitreeError),
    ],
)
def test_each_error_is_in_the_tree(error: type[Exception], family: type[Exception]) -> None:
    assert issubclass(error, family)
    if family is KpitreeError:
        assert not issubclass(error, UserError), "a data condition or a channel's failure is not the user's mistake"


def test_a_raised_formula_error_is_caught_as_a_user_error() -> None:
    with pytest.raises(UserError) as raised:
        parse_formula("a +* b")
    assert isinstance(raised.value, FormulaSyntaxError)
    assert raised.value.hint


def test_a_raised_attribution_error_is_a_kpitree_error() -> None:
    with pytest.raises(KpitreeError, match="positive"):
        lmdi([1.0, -1.0], [2.0, 1.0])


def test_invariants_hold_under_python_O() -> None:
    # assert statements vanish under -O; kpitree's invariants raise InternalError either way.
    code = (
        "from pathlib import Path\n"
        "from kpitree.compute.measures import plan_one_node\n"
        "from kpitree.errors import InternalError\n"
        "from kpitree.tree_files import load_tree_or_raise\n"
        "tree = load_tree_or_raise(Path('trees/activity_volume_per_contact.yaml'))\n"
        "try:\n"
        "    plan_one_node(tree, tree.nodes[tree.root], [], None, None)\n"
        "except InternalError as e:\n"
        "    print('InternalError:', e)\n"
    )
    done = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "InternalError: node.measure is missing"
