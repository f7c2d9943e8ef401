"""The JSON Schema for editors: in step with the models, and it accepts the seed trees."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from ruamel.yaml import YAML

from kpitree.spec.schema import tree_json_schema
from tests.conftest import ROOT, SEED_TREES

COMMITTED = ROOT / "docs" / "tree.schema.json"


def test_committed_schema_is_up_to_date() -> None:
    assert json.loads(COMMITTED.read_text()) == tree_json_schema(), (
        "docs/tree.schema.json is stale: run 'kpitree schema -o docs/tree.schema.json'"
    )


@pytest.mark.parametrize("path", SEED_TREES, ids=lambda p: p.stem)
def test_seed_trees_satisfy_the_schema(path: Path) -> None:
    data = YAML(typ="safe").load(path.read_text())
    jsonschema.validate(data, tree_json_schema())


def test_schema_rejects_an_unknown_key() -> None:
    data = {"tree": "t", "title": "T", "nodes": [{"id": "a", "fromula": "1"}]}
    with pytest.raises(jsonschema.ValidationError, match="fromula"):
        jsonschema.validate(data, tree_json_schema())
