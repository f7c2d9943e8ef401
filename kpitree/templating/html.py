"""The environment every shipped HTML page renders in (the variance report, the calibration page)."""

from __future__ import annotations

from kpitree.resources import shipped_dir
from kpitree.templating.compiled import CompiledTemplates
from kpitree.templating.sandbox import BoundedSandbox

_COMPILED = CompiledTemplates()  # the shipped pages, all compiled with the options below


def html_environment() -> BoundedSandbox:
    """Autoescaped (a node title like ``<script>`` stays text), strict (a typo is an error) and
    sandboxed like every template kpitree renders."""
    return BoundedSandbox(
        [shipped_dir("templates")],
        html_extensions=["html", "html.j2"],
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_COMPILED,
    )
