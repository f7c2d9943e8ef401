"""The JSON Schema of tree files, generated from the pydantic models so it never drifts."""

from __future__ import annotations

from typing import Any

from kpitree.spec.models import TreeFileSpec

SCHEMA_ID = "https://kpitree.dev/schema/tree.schema.json"


def tree_json_schema() -> dict[str, Any]:
    schema = TreeFileSpec.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
