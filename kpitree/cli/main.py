"""``kpitree``: the command-line entry point and its error policy.

A :class:`~kpitree.errors.UserError` is printed as ``error: ...`` with its hint and exits 1, never
with a traceback. Anything else is a bug: the traceback is printed with a request to report it,
exit 70 (EX_SOFTWARE). Click's own usage errors exit 2.
"""

from __future__ import annotations

import traceback
from typing import Any

import click

from kpitree import __version__
from kpitree.cli.compute_commands import check, compute
from kpitree.cli.data_commands import load, sample_data
from kpitree.cli.db_commands import db
from kpitree.cli.demo import demo
from kpitree.cli.spec_commands import schema, tree, validate
from kpitree.errors import UserError

EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 70


class KpitreeGroup(click.Group):
    """Turns kpitree's exceptions into the exit codes above."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            if exc.hint:
                click.echo(f"hint: {exc.hint}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception:
            click.echo(traceback.format_exc(), err=True)
            click.echo(
                "kpitree hit an internal error (a bug, not your input). Please report it with the traceback above.",
                err=True,
            )
            ctx.exit(EXIT_INTERNAL_ERROR)


@click.group(cls=KpitreeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kpitree")
def cli() -> None:
    """kpitree: metric trees as code.

    Declare a KPI and the branches that produce it in YAML, compute it in your warehouse,
    attribute every movement to the branch that caused it, and alert that branch's owner.
    """


cli.add_command(validate)
cli.add_command(schema)
cli.add_command(tree)
cli.add_command(compute)
cli.add_command(check)
cli.add_command(db)
cli.add_command(sample_data)
cli.add_command(load)
cli.add_command(demo)
