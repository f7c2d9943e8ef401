"""Check a template without running it: syntax, filters, variables and attribute names.

``kpitree validate`` and the scheduler read tree files written by anyone with access to the trees
repository, so an overriding template is *parsed and compiled*, never rendered, when a tree loads.
What can be known without running it is checked against sample contexts (what the template will
be given):

- syntax errors and unknown filters or tests (Jinja's compiler finds both);
- names starting with ``_`` (``cycler.__init__``), which the sandbox refuses;
- variables that no context provides (``{{ alert.title }}`` where only ``alerts`` exists);
- attribute and key names that no sample value has (``{{ recipient.nmae }}``), following loops
  (``{% for alert in alerts %}``) and ``{% set %}`` to know what a name holds. A value that is
  None in a sample (an optional part) is not held against a name: guards cannot be read statically.
- a Slack template without control structures is checked to be JSON; one with loops or
  conditions is checked for JSON when it renders (``kpitree alerts test-send``, or a run).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from jinja2 import Environment, TemplateNotFound, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError

from kpitree.templating.sandbox import BUDGET_FILTER, MAX_TEMPLATE_BYTES


@dataclass(frozen=True)
class TemplateProblem:
    file: str
    line: int
    message: str


# Filters whose result holds the same values as their input (a subset, or in another order).
_SAME_VALUES: Final = frozenset({BUDGET_FILTER, "list", "sort", "reverse", "unique", "selectattr", "rejectattr"})
_CONTROL: Final = (nodes.For, nodes.If, nodes.Macro, nodes.CallBlock, nodes.Include, nodes.Extends, nodes.Import)


def lint_template(
    environment: Environment, name: str, samples: Sequence[Mapping[str, Any]], *, json_output: bool = False
) -> list[TemplateProblem]:
    """Every problem found in template ``name`` without rendering it (``[]`` when there is none)."""
    try:
        source, filename, _ = environment.loader.get_source(environment, name)  # type: ignore[union-attr]
    except TemplateNotFound:
        return [TemplateProblem(name, 1, f"template {name} is missing")]
    except (OSError, UnicodeDecodeError, SecurityError) as exc:
        return [TemplateProblem(name, 1, f"cannot read template {name}: {exc}")]
    file = filename or name
    if len(source) > MAX_TEMPLATE_BYTES:
        return [TemplateProblem(file, 1, f"template is larger than {MAX_TEMPLATE_BYTES:,} bytes")]
    try:
        tree = environment.parse(source, name, file)
        environment.compile(source, name, file)  # finds unknown filters and tests; runs nothing
    except TemplateSyntaxError as exc:
        return [TemplateProblem(file, exc.lineno, f"syntax error: {exc.message}")]
    except RecursionError:
        return [TemplateProblem(file, 1, "template nests its blocks too deeply to read")]
    problems = _undefined_names(tree, file, environment, samples)
    problems += _private_names(tree, file)
    problems += _Attributes(file, samples).check(tree)
    if json_output and not any(tree.find_all(_CONTROL)):
        problems += _json_problems(tree, file)
    return problems


def _undefined_names(
    tree: nodes.Template, file: str, environment: Environment, samples: Sequence[Mapping[str, Any]]
) -> list[TemplateProblem]:
    known = set(environment.globals).union(*(sample.keys() for sample in samples))
    missing = meta.find_undeclared_variables(tree) - known
    problems = []
    for name in sorted(missing):
        line = min((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), default=1)
        problems.append(TemplateProblem(file, line, f"{name!r} is undefined"))
    return problems


def _private_names(tree: nodes.Template, file: str) -> list[TemplateProblem]:
    """``x.__class__`` and the like: the sandbox refuses them when rendering, so say so now."""
    problems = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        key = node.attr if isinstance(node, nodes.Getattr) else getattr(node, "arg", None)
        name = key if isinstance(key, str) else getattr(key, "value", None)
        if isinstance(name, str) and name.startswith("_"):
            problems.append(
                TemplateProblem(file, node.lineno, f"access to {name!r} is refused by the template sandbox")
            )
    return problems


class _Attributes:
    """Walks a template, knowing for each name the sample values it can hold."""

    def __init__(self, file: str, samples: Sequence[Mapping[str, Any]]) -> None:
        self.file = file
        self.problems: list[TemplateProblem] = []
        self.scope: dict[str, list[Any] | None] = {}
        for sample in samples:
            for key, value in sample.items():
                self.scope.setdefault(key, []).append(value)  # type: ignore[union-attr]

    def check(self, tree: nodes.Template) -> list[TemplateProblem]:
        self._walk(tree, dict(self.scope))
        return list(dict.fromkeys(self.problems))  # a chain can be met twice (a loop's iterable)

    def _walk(self, node: nodes.Node, scope: dict[str, list[Any] | None]) -> None:
        # Iterative over siblings, recursive over nesting: Jinja's parser already bounded the depth.
        if isinstance(node, nodes.Getattr | nodes.Getitem):
            self._infer(node, scope)  # checks every link of the chain a.b.c
            base: nodes.Node = node
            while isinstance(base, nodes.Getattr | nodes.Getitem):
                if isinstance(base, nodes.Getitem):
                    self._walk(base.arg, scope)
                base = base.node
            self._walk(base, scope)
            return
        if isinstance(node, nodes.For):
            self._walk(node.iter, scope)
            inner = dict(scope)
            _bind(node.target, _elements(self._infer(node.iter, scope)), inner)
            inner["loop"] = None
            for child in [*node.body, *([node.test] if node.test else [])]:
                self._walk(child, inner)
            for child in node.else_:
                self._walk(child, scope)
            return
        if isinstance(node, nodes.Assign):
            self._walk(node.node, scope)
            _bind(node.target, self._infer(node.node, scope), scope)
            return
        if isinstance(node, nodes.Macro | nodes.CallBlock):
            inner = dict(scope)
            for argument in getattr(node, "args", []):
                inner[argument.name] = None
            for child in node.body:
                self._walk(child, inner)
            return
        for child in node.iter_child_nodes():
            self._walk(child, scope)

    def _infer(self, node: nodes.Node, scope: dict[str, list[Any] | None]) -> list[Any] | None:
        """The sample values ``node`` can take; None when they cannot be known without running it."""
        if isinstance(node, nodes.Name):
            return scope.get(node.name)
        if isinstance(node, nodes.Const):
            return [node.value]
        if isinstance(node, nodes.Filter) and node.node is not None:
            if node.name in _SAME_VALUES:  # loops go through the budget filter; sort keeps the items
                return self._infer(node.node, scope)
            if node.name in ("first", "last"):
                return _elements(self._infer(node.node, scope))
        if isinstance(node, nodes.Getattr):
            return self._member(node, self._infer(node.node, scope), node.attr)
        if isinstance(node, nodes.Getitem):
            key = node.arg.value if isinstance(node.arg, nodes.Const) else None
            base = self._infer(node.node, scope)
            if isinstance(key, int) and base is not None:
                return [item[key] for item in base if isinstance(item, list | tuple) and -len(item) <= key < len(item)]
            return self._member(node, base, key) if isinstance(key, str) else None
        return None

    def _member(self, node: nodes.Node, base: list[Any] | None, name: str) -> list[Any] | None:
        if base is None:
            return None
        present = [value for value in base if value is not None]
        found = [_lookup(value, name) for value in present]
        values = [value for value, ok in found if ok]
        if present and not values:
            kind = type(present[0]).__name__
            self.problems.append(TemplateProblem(self.file, node.lineno, f"{kind} object has no attribute {name!r}"))
            return None
        return values


def _lookup(value: Any, name: str) -> tuple[Any, bool]:
    if isinstance(value, Mapping) and name in value:
        return value[name], True
    if not name.startswith("_") and hasattr(value, name):
        return getattr(value, name), True
    return None, False


def _elements(values: list[Any] | None) -> list[Any] | None:
    if values is None:
        return None
    items: list[Any] = []
    for value in values:
        if isinstance(value, Mapping) or (isinstance(value, Iterable) and not isinstance(value, str | bytes)):
            items.extend(value)
    return items or None


def _bind(target: nodes.Node, values: list[Any] | None, scope: dict[str, list[Any] | None]) -> None:
    if isinstance(target, nodes.Name):
        scope[target.name] = values
    else:
        for name in target.find_all(nodes.Name):
            scope[name.name] = None


def _json_problems(tree: nodes.Template, file: str) -> list[TemplateProblem]:
    """For a template of text and ``{{ }}`` only: its text, each expression standing for ``0``."""
    parts: list[str] = []
    for output in tree.find_all(nodes.Output):
        for item in output.nodes:
            parts.append(item.data if isinstance(item, nodes.TemplateData) else "0")
    try:
        json.loads("".join(parts))
    except json.JSONDecodeError as exc:
        return [TemplateProblem(file, exc.lineno, f"does not render to JSON: {exc.msg}")]
    return []
