"""``kpitree``: the command-line entry point and its error policy.

A :class:`~kpitree.errors.UserError` is printed as ``error: ...`` with its hint and exits 1, never
with a traceback. Anything else is a bug: the traceback is printed with a request to report it,
exit 70 (EX_SOFTWARE). Click's own usage errors exit 2.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from kpitree import __version__
from kpitree.cli.plain import echo
from kpitree.errors import InternalError, UserError

EXIT_USER_ERROR = 1
EXIT_INTERNAL_ERROR = 70


# Command name -> "module:attribute". Commands load on use, so 'kpitree compute' does not pay for
# importing alembic, rich or jsonschema (about half a second of start-up on every run).
COMMANDS = {
    "validate": "kpitree.cli.spec_commands:validate",
    "schema": "kpitree.cli.spec_commands:schema",
    "tree": "kpitree.cli.spec_commands:tree",
    "compute": "kpitree.cli.compute_commands:compute",
    "check": "kpitree.cli.compute_commands:check",
    "report": "kpitree.cli.report_commands:report",
    "explain": "kpitree.cli.report_commands:explain",
    "drill": "kpitree.cli.drill_commands:drill",
    "score-change": "kpitree.cli.score_commands:score_change",
    "db": "kpitree.cli.db_commands:db",
    "sample-data": "kpitree.cli.data_commands:sample_data",
    "load": "kpitree.cli.data_commands:load",
    "demo": "kpitree.cli.demo:demo",
    "run": "kpitree.cli.alert_commands:run",
    "alerts": "kpitree.cli.alert_commands:alerts",
    "silence": "kpitree.cli.silence_commands:silence",
    "schedule": "kpitree.cli.schedule_commands:schedule",
    "runs": "kpitree.cli.schedule_commands:runs",
    "status": "kpitree.cli.schedule_commands:status",
    "impact": "kpitree.cli.impact_commands:impact",
    "calibrate": "kpitree.cli.calibrate_commands:calibrate",
}


class KpitreeGroup(click.Group):
    """Loads commands on use, and turns kpitree's exceptions into the exit codes above."""

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 (click's signature)
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:  # noqa: ARG002
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise InternalError("unexpected type: not isinstance(command, click.Command)")
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            echo(f"error: {exc}", err=True)
            if exc.hint:
                echo(f"hint: {exc.hint}", err=True)
            ctx.exit(EXIT_USER_ERROR)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # The reader went away ('kpitree alerts outbox | head'): nothing more can be said to it.
            # Point stdout at /dev/null so that the interpreter's flush at exit cannot fail again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(EXIT_USER_ERROR)
        except Exception:
            echo(traceback.format_exc(), err=True)
            echo(
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


# The kpitree process collects cyclic garbage when this many new objects are alive, not 700.
# A command builds its objects once and exits (the scheduler keeps its trees): with CPython's
# default (700, 10, 10) a `kpitree run` at 10M ran 636 collections, 4 of them full, each walking
# every imported module's objects again: 0.2 s of its 7.3 s. With this: 22, none full,
# 0.06 s. Objects without cycles are freed at once as always; cycles wait a little longer.
YOUNG_GENERATION_THRESHOLD = 50_000


def collect_as_the_program_does() -> None:
    """Set this process's young-generation threshold to the program's, keeping the older ones."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)


def main(args: Sequence[str] | None = None) -> None:
    """The ``kpitree`` program (the console script and ``python -m kpitree``): :func:`cli`, in a
    process of its own. In-process callers (tests, ``CliRunner``) call :func:`cli` and keep their
    own collector settings."""
    collect_as_the_program_does()
    cli.main(args=list(args) if args is not None else None, prog_name="kpitree")
