"""The one way kpitree renders a template: sandboxed, strict, confined and bounded.

Templates may come from a tree's ``alerting.templates`` folder, written by anyone who can edit the
trees repository, and they render inside the scheduler that holds SMTP and Slack credentials. So
every template, shipped or overridden, renders in Jinja2's :class:`ImmutableSandboxedEnvironment`
(no ``__globals__`` escapes, no mutating ``append``/``update`` on the data) with ``StrictUndefined``,
and on top of that:

- templates are read only from their folders, symlinks resolved: a link to the secrets file or an
  ``{% include "../../etc/passwd" %}`` is "not found", never read;
- a render has a budget of loop iterations, calls and output characters, and ``*`` / ``**`` cannot
  build huge values, so a template cannot hang a run or fill its memory.

What still holds is documented in docs/security.md.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Final

from jinja2 import BaseLoader, ChoiceLoader, StrictUndefined, Template, TemplateNotFound, nodes, select_autoescape
from jinja2.exceptions import SecurityError
from jinja2.loaders import split_template_path
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEMPLATE_BYTES: Final = 256 * 1024
MAX_ITERATIONS: Final = 200_000  # loop steps per render, all loops together
MAX_CALLS: Final = 200_000  # function, method and filter calls per render
MAX_OUTPUT_CHARS: Final = 2_000_000  # far above any message kpitree sends
MAX_VALUE_LENGTH: Final = 100_000  # what "x" * n or [a] * n may build

BUDGET_FILTER: Final = "kpitree_loop_budget"


class RenderBudgetExceeded(SecurityError):
    """A render went past one of its budgets; the message says which."""


class _Budget:
    def __init__(self) -> None:
        self.iterations = 0
        self.calls = 0

    def step(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise RenderBudgetExceeded(f"the template loops more than {MAX_ITERATIONS:,} times")

    def call(self) -> None:
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise RenderBudgetExceeded(f"the template makes more than {MAX_CALLS:,} calls")


_budget: ContextVar[_Budget | None] = ContextVar("kpitree_render_budget", default=None)


def _current_budget() -> _Budget:
    # Outside BoundedSandbox.render each loop and call still counts, against a budget of its own.
    return _budget.get() or _Budget()


def _counted(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _current_budget()
    for item in iterable:
        budget.step()
        yield item


class ConfinedLoader(BaseLoader):
    """Templates from one folder only: the resolved path (symlinks followed) must stay inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:  # noqa: ARG002
        path = self.root.joinpath(*split_template_path(template)).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            raise TemplateNotFound(template)
        if path.stat().st_size > MAX_TEMPLATE_BYTES:
            raise SecurityError(f"{path} is larger than {MAX_TEMPLATE_BYTES:,} bytes")
        text = path.read_text(encoding="utf-8")
        mtime = path.stat().st_mtime
        return text, str(path), lambda: path.is_file() and path.stat().st_mtime == mtime

    def list_templates(self) -> list[str]:
        return sorted(
            str(path.relative_to(self.root))
            for path in self.root.rglob("*")
            if path.is_file() and path.resolve().is_relative_to(self.root)
        )


MAX_INT_BITS: Final = 4096


def _check_size(value: Any) -> Any:
    too_long = isinstance(value, str | list | tuple) and len(value) > MAX_VALUE_LENGTH
    if too_long or (isinstance(value, int) and value.bit_length() > MAX_INT_BITS):
        raise RenderBudgetExceeded(f"the template builds a value larger than {MAX_VALUE_LENGTH:,} items or digits")
    return value


def _bounded(operation: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``operation`` refusing operands whose result would be too large, checked before it is built."""

    def bounded(left: Any, right: Any) -> Any:
        for sequence, count in ((left, right), (right, left)):
            repeated = isinstance(sequence, str | list | tuple) and isinstance(count, int)
            if operation is operator.mul and repeated and len(sequence) * count > MAX_VALUE_LENGTH:
                raise RenderBudgetExceeded(f"the template builds a value longer than {MAX_VALUE_LENGTH:,}")
        integers = isinstance(left, int) and isinstance(right, int)
        if operation is operator.pow and integers and right > 0 and left.bit_length() * right > MAX_INT_BITS:
            raise RenderBudgetExceeded(f"the template raises a number past {MAX_INT_BITS} bits")
        return _check_size(operation(left, right))

    return bounded


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, strict, with the budgets of this module."""

    intercepted_binops = frozenset({"+", "*", "**"})

    def __init__(self, folders: Sequence[Path], *, html_extensions: Sequence[str] = (), **options: Any) -> None:
        super().__init__(
            loader=ChoiceLoader([ConfinedLoader(folder) for folder in folders]),
            autoescape=select_autoescape(list(html_extensions), default_for_string=False, default=False),
            undefined=StrictUndefined,
            **options,
        )
        self.folders = tuple(folder.resolve() for folder in folders)
        self.filters[BUDGET_FILTER] = _counted
        self.binop_table = {
            **self.binop_table,
            "+": _bounded(operator.add),
            "*": _bounded(operator.mul),
            "**": _bounded(operator.pow),
        }

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Every loop iterates through the budget filter, so nested loops cannot run for hours.
        template = super()._parse(source, name, filename)
        for loop in template.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, BUDGET_FILTER, [], [], None, None, lineno=loop.lineno)
        return template

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _current_budget().call()
        return super().call(__context, __obj, *args, **kwargs)

    def render(self, template: Template | str, context: Mapping[str, Any]) -> str:
        """Render ``template`` (a name, or a loaded template) within the budgets."""
        loaded = self.get_template(template) if isinstance(template, str) else template
        token = _budget.set(_Budget())
        try:
            chunks: list[str] = []
            size = 0
            for chunk in loaded.generate(**context):
                size += len(chunk)
                if size > MAX_OUTPUT_CHARS:
                    raise RenderBudgetExceeded(f"the template writes more than {MAX_OUTPUT_CHARS:,} characters")
                chunks.append(chunk)
            return "".join(chunks)
        finally:
            _budget.reset(token)
