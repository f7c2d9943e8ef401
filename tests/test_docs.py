"""Docs a test keeps in step with the code: the CLI reference, the spec keys, the issue codes,
the data contract."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator

from pydantic import BaseModel

from kpitree.cli.help_doc import render_cli_reference
from kpitree.data_contract import CONTRACT
from kpitree.spec.issues import IssueCode
from kpitree.spec.models import TreeFileSpec
from tests.conftest import ROOT

DOCS = ROOT / "docs"


def test_cli_reference_matches_help() -> None:
    assert (DOCS / "cli.md").read_text() == render_cli_reference(), (
        "docs/cli.md is stale: run 'python -m kpitree.cli.help_doc > docs/cli.md'"
    )


def _models(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def _all_keys() -> set[str]:
    keys: set[str] = set()
    seen: set[type[BaseModel]] = set()
    pending: list[type[BaseModel]] = [TreeFileSpec]
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            keys.add(name)
            pending.extend(_models(field.annotation))
    # FilterCondition's fields are internal: YAML writes operators, documented in their own table.
    return keys - {"op", "value"} | {"value"}


def test_tree_spec_documents_every_key() -> None:
    text = (DOCS / "tree-spec.md").read_text()
    documented = set(re.findall(r"`([a-z_]+)", text))
    missing = sorted(_all_keys() - documented)
    assert not missing, f"docs/tree-spec.md does not mention: {missing}"


def test_tree_spec_documents_every_issue_code() -> None:
    text = (DOCS / "tree-spec.md").read_text()
    missing = sorted(code.value for code in IssueCode if f"`{code.value}`" not in text)
    assert not missing, f"docs/tree-spec.md's code table lacks: {missing}"


def test_data_contract_documents_every_column() -> None:
    text = (DOCS / "data-contract.md").read_text()
    for table, columns in CONTRACT.items():
        section = text.split(f"## `{table}`")[1].split("\n## ")[0]
        for column in columns:
            assert f"| `{column}` |" in section, f"{table}.{column} is not documented"
