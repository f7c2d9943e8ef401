"""``kpitree calibrate --write``: the suggested weights, half-life and band edges, written into the
tree's YAML in place. ruamel.yaml's round trip keeps every comment, key order, quote and flow
mapping: only the changed numbers differ (``git diff`` shows exactly what calibration changed)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from kpitree.errors import UsageError
from kpitree.spec.models import BandSpec


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def write_calibration(
    path: Path,
    node_id: str,
    weights: Mapping[str, float],
    half_life: float,
    bands: Sequence[BandSpec],
) -> list[str]:
    """Update the score node ``node_id`` in ``path``; the changes made, in words."""
    yaml = _yaml()
    text = path.read_text(encoding="utf-8")
    document: Any = yaml.load(text)
    node = next((n for n in document.get("nodes", []) if n.get("id") == node_id), None)
    if node is None or "score" not in node:
        raise UsageError(
            f"{path}: no score node {node_id!r} to write to", hint="calibrate a tree whose file you can edit"
        )
    score = node["score"]
    changes: list[str] = []
    decay = score.setdefault("decay", {})
    if float(decay.get("half_life_days", 0)) != half_life:
        changes.append(f"half_life_days {decay.get('half_life_days')} -> {half_life:g}")
        decay["half_life_days"] = _number(half_life)
    by_name = {band.name: band for band in bands}
    for band in score.get("bands", []):
        new = by_name.get(band.get("name"))
        if new is None:
            continue
        for edge in ("low", "high"):
            value = getattr(new, edge)
            if edge in band and value is not None and float(band[edge]) != float(value):
                changes.append(f"{band['name']} {edge} {band[edge]} -> {value:g}")
                band[edge] = _number(value)
    for engagement_type in score.get("types", []):
        for signal in engagement_type.get("signals", []):
            new_weight = weights.get(signal.get("id"))
            if new_weight is not None and float(signal.get("weight", 0)) != new_weight:
                changes.append(f"{signal['id']} weight {signal.get('weight')} -> {new_weight:g}")
                signal["weight"] = _number(new_weight)
    if changes:
        out = io.StringIO()
        yaml.dump(document, out)
        path.write_text(out.getvalue(), encoding="utf-8")
    return changes


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value
