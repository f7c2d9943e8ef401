"""Structural validation: the YAML against the pydantic models.

Two passes. The first validates the whole file at once, so pydantic reports every type and key
problem; each is turned into an issue at its line with a hint. The second salvages what is valid
(each person, team, source and node on its own), so the semantic checks that follow still run on
the good parts of a file that has bad parts: one run, every problem.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from kpitree.spec.issues import IssueCode
from kpitree.spec.models import NodeSpec, PersonSpec, SourceSpec, TeamSpec, TreeFileSpec
from kpitree.spec.sink import IssueSink
from kpitree.spec.suggest import did_you_mean
from kpitree.spec.yaml_source import PathKey, YamlPath

_ITEM_MODELS: dict[str, type[BaseModel]] = {"people": PersonSpec, "teams": TeamSpec, "nodes": NodeSpec}


@dataclass(frozen=True)
class Draft:
    """The valid parts of a tree file, each with the YAML path it came from."""

    spec: TreeFileSpec
    node_paths: tuple[YamlPath, ...]  # aligned with spec.nodes
    team_paths: tuple[YamlPath, ...]  # aligned with spec.teams
    # What salvage left out (each reported in pass one): checks say nothing more about these paths,
    # so a bad 'direction' is one error, not also "root has no direction".
    pruned: frozenset[YamlPath] = frozenset()


def validate_structure(data: Any, sink: IssueSink) -> Draft | None:
    """Report every structural problem into ``sink``; return the salvaged draft (None if hopeless)."""
    if not isinstance(data, dict):
        sink.error(
            (),
            IssueCode.NOT_A_TREE,
            "a tree file must be a mapping of keys (tree, title, nodes, ...)",
            "start from trees/activity_volume_per_contact.yaml",
        )
        return None
    try:
        TreeFileSpec.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            _report(error, data, sink)
    return _salvage(data)


def _report(error: ErrorDetails, data: Any, sink: IssueSink) -> None:
    path, model = _locate(error["loc"], data)
    kind = error["type"]
    leaf = path[-1] if path else ""
    if kind == "extra_forbidden":
        allowed = sorted(model.model_fields) if model else []
        sink.error(path, IssueCode.UNKNOWN_KEY, f"unknown key {leaf!r}", _did_you_mean(str(leaf), allowed), at_key=True)
    elif kind == "missing":
        sink.error(
            path[:-1],
            IssueCode.MISSING_KEY,
            f"missing required key {leaf!r}",
            f"add '{leaf}:' to this mapping",
            at_key=True,
        )
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        rules = "threshold, band, change, slide, anomaly, entity_band_crossing"
        sink.error(
            (*path, "rule") if kind == "union_tag_invalid" else path,
            IssueCode.UNKNOWN_ALERT_RULE,
            f"alert rule type must be one of: {rules}",
            "set 'rule:' to one of those",
        )
    elif kind == "finite_number":
        sink.error(
            path,
            IssueCode.NOT_A_NUMBER,
            f"{leaf} must be a finite number, got {error['input']!r}",
            "write an ordinary number: NaN and infinity (.nan, .inf, 1e309) cannot be compared or computed with",
        )
    elif kind in ("float_type", "float_parsing", "int_type", "int_parsing", "int_from_float"):
        sink.error(
            path,
            IssueCode.NOT_A_NUMBER,
            f"{leaf} must be a number, got {error['input']!r}",
            "write the number without quotes, e.g. 5 or 0.5",
        )
    elif kind == "string_pattern_mismatch":
        sink.error(
            path,
            IssueCode.INVALID_IDENTIFIER,
            f"{error['input']!r} is not a valid id",
            "use letters, digits and _ only, starting with a letter (e.g. call_touches); "
            "owners may also be entity:<column>",
        )
    elif kind == "value_error" and leaf == "email":
        sink.error(
            path,
            IssueCode.INVALID_EMAIL,
            f"{error['input']!r} is not a valid email address",
            "write a full address such as name@example.com",
        )
    elif kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        sink.error(path, IssueCode.INVALID_CHOICE, f"{leaf} cannot be {error['input']!r}", f"use one of: {expected}")
    else:
        sink.error(
            path,
            IssueCode.INVALID_VALUE,
            f"{leaf or 'value'}: {error['msg']}",
            _GENERIC_HINTS.get(kind, "see docs/tree-spec.md for this key"),
        )


_GENERIC_HINTS = {
    "list_type": "write a YAML list: one '- item' per line, or [a, b]",
    "dict_type": "write a mapping of 'key: value' lines",
    "model_type": "write a mapping of 'key: value' lines",
    "model_attributes_type": "write a mapping of 'key: value' lines",
    "string_type": "write text here (quote it if YAML reads it as a number or boolean)",
    "bool_type": "write true or false",
    "too_short": "add at least one entry",
    "greater_than": "use a larger value",
    "greater_than_equal": "use a larger value",
    "less_than_equal": "use a smaller value",
}


def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    otherwise = f"allowed keys here: {', '.join(candidates)}" if candidates else "remove this key"
    return did_you_mean(word, candidates, otherwise)


def _locate(
    loc: tuple[int | str, ...], data: Any, root: type[BaseModel] = TreeFileSpec
) -> tuple[YamlPath, type[BaseModel] | None]:
    """Map pydantic's error location onto a YAML path, and find the model that owns its last key.

    Pydantic puts union tags (an alert's ``rule``) into locations; they are not in the YAML, so
    they are skipped when the data at that point carries the same tag.
    """
    path: list[PathKey] = []
    current: Any = data
    annotation: Any = root
    owner: type[BaseModel] | None = root
    for element in loc:
        if isinstance(current, dict) and element not in current and current.get("rule") == element:
            continue
        model = _model_of(annotation, current)
        if model is not None:
            owner = model
            field = model.model_fields.get(str(element))
            annotation = field.annotation if field else None
        else:
            annotation = _item_type(annotation)
        path.append(element)
        if isinstance(current, dict):
            current = current.get(element)
        elif isinstance(current, list) and isinstance(element, int) and element < len(current):
            current = current[element]
        else:
            current = None
    # The owner is the model of the mapping that holds the last key: what an unknown key is checked against.
    return tuple(path), owner


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [member for arg in typing.get_args(annotation) for member in _unwrap(arg)]
    return [annotation]


def _model_of(annotation: Any, current: Any) -> type[BaseModel] | None:
    models = [a for a in _unwrap(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    if len(models) > 1 and isinstance(current, dict):
        for model in models:
            field = model.model_fields.get("rule")
            if field and current.get("rule") in typing.get_args(field.annotation):
                return model
    return models[0] if len(models) == 1 else None


def _item_type(annotation: Any) -> Any:
    for member in _unwrap(annotation):
        origin = typing.get_origin(member)
        if origin is list:
            return typing.get_args(member)[0]
        if origin is dict:
            return typing.get_args(member)[1]
    return None


def _salvage(data: dict[str, Any]) -> Draft | None:
    items: dict[str, list[Any]] = {}
    paths: dict[str, list[YamlPath]] = {}
    pruned: set[YamlPath] = set()
    for key, model in _ITEM_MODELS.items():
        raw = data.get(key)
        items[key], paths[key] = [], []
        for index, item in enumerate(raw if isinstance(raw, list) else []):
            valid = _salvage_item(model, item, (key, index), pruned)
            if valid is not None:
                items[key].append(valid)
                paths[key].append((key, index))
    raw_sources = data.get("sources")
    sources = {
        name: valid
        for name, value in (raw_sources.items() if isinstance(raw_sources, dict) else [])
        if (valid := _salvage_item(SourceSpec, value, ("sources", name), pruned)) is not None
    }
    header = {k: v for k, v in data.items() if k in TreeFileSpec.model_fields and k not in (*_ITEM_MODELS, "sources")}
    placeholder = {"id": "placeholder", "formula": "0"}
    # Header keys with errors fall back to their defaults; the errors were reported in pass one.
    for _ in range(len(header) + 1):
        try:
            base = TreeFileSpec.model_validate(
                {"tree": "unnamed", "title": "untitled", **header, "nodes": [placeholder]}
            )
            break
        except ValidationError as exc:
            bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
            header = {k: v for k, v in header.items() if k not in bad}
    else:
        return None
    spec = base.model_copy(
        update={"people": items["people"], "teams": items["teams"], "sources": sources, "nodes": items["nodes"]}
    )
    return Draft(spec, tuple(paths["nodes"]), tuple(paths["teams"]), frozenset(pruned))


MAX_SALVAGE_ROUNDS = 64  # each round removes at least one part; a tree file is bounded anyway


def _salvage_item(model: type[BaseModel], value: Any, at: YamlPath, pruned: set[YamlPath]) -> Any:
    """``value`` validated as ``model`` once the parts with errors are taken out: an unknown key
    is dropped, a bad value is dropped (its key then reads as absent), a mapping missing a required
    key is dropped from its list or parent. None when the item itself cannot stand (its ``id`` is
    missing or bad). Every part taken out is added to ``pruned`` as a YAML path."""
    current = value
    for _ in range(MAX_SALVAGE_ROUNDS):
        try:
            return model.model_validate(current)
        except ValidationError as exc:
            errors = exc.errors()
        removals = {_removal(error, current, model) for error in errors}
        if () in removals or not removals:
            return None
        current = copy.deepcopy(current)
        # Deepest first, and list items from the end, so earlier removals do not shift later paths.
        for path in sorted(removals, key=lambda p: (len(p), p[-1] if isinstance(p[-1], int) else -1), reverse=True):
            _remove(current, path)
            pruned.add((*at, *path))
    return None


def _removal(error: ErrorDetails, data: Any, model: type[BaseModel]) -> YamlPath:
    """The part of ``data`` to take out for ``error``: the element it is about (for a missing key,
    the mapping that lacks it), cut back to the deepest element that exists."""
    path, _ = _locate(error["loc"], data, model)
    if error["type"] == "missing":
        path = path[:-1]
    existing: list[PathKey] = []
    current = data
    for element in path:
        found, current = _child(current, element)
        if not found:
            break
        existing.append(element)
    return tuple(existing)


def _child(container: Any, element: PathKey) -> tuple[bool, Any]:
    if isinstance(container, dict) and element in container:
        return True, container[element]
    if isinstance(container, list) and isinstance(element, int) and 0 <= element < len(container):
        return True, container[element]
    return False, None


def _remove(data: Any, path: YamlPath) -> None:
    parent = data
    for element in path[:-1]:
        parent = parent[element]
    last = path[-1]
    if isinstance(parent, dict):
        parent.pop(last, None)
    elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
        del parent[last]
