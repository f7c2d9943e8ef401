"""``kpitree check`` output: every identity checked, failures first."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from kpitree.compute.check import CheckReport
from kpitree.display import number


def check_table(report: CheckReport) -> RenderableType:
    table = Table(title=f"{report.tree.title}: parent = f(children)", title_justify="left", show_edge=False)
    for column in ("period", "node", "rule", "parent", "children", "difference", "result"):
        table.add_column(column, justify="right" if column in ("parent", "children", "difference") else "left")
    ordered = sorted(report.checks, key=lambda c: (c.holds is not False, c.period, c.node_id))
    for c in ordered:
        result = {True: Text("ok", "green"), False: Text("FAILS", "bold red"), None: Text("no value", "dim")}[c.holds]
        diff = c.difference
        table.add_row(
            c.period,
            c.node_id,
            c.rule,
            number(c.parent),
            number(c.children),
            "-" if diff is None else f"{diff:.3g}",
            result,
        )
    checked = sum(1 for c in report.checks if c.holds is not None)
    summary = (
        f"{checked} identities checked, {len(report.failures)} failing"
        if report.failures
        else f"{checked} identities checked: all hold"
    )
    return Group(table, Text(summary, style="red" if report.failures else "green"))
