"""Render every command's ``--help`` into docs/cli.md, so the docs cannot drift from the CLI.

python -m kpitree.cli.help_doc > docs/cli.md
"""

from __future__ import annotations

import click

from kpitree.cli.main import cli
from kpitree.errors import InternalError

HEADER = """\
# Command-line reference

Generated from `--help` by `python -m kpitree.cli.help_doc > docs/cli.md`; a test fails when it
is stale. Exit codes: 0 success, 1 a problem with your input (printed without a traceback),
2 a command-line usage error, 70 an internal error (a bug: please report it).

**Durations** are written the same way in every option and tree file: a whole number and a unit,
`30min` (or `30m`: `m` is always minutes), `24h`, `7d`, `8w`, `3mo` (calendar months). Each
option takes the units that make sense for it and refuses the others with a hint: `--window`
weeks or months, `--horizon` days to months, `silence --until` any; tree files take fixed lengths
(minutes to weeks).
"""


def _commands(group: click.Group, prefix: list[str]) -> list[tuple[list[str], click.Command]]:
    found: list[tuple[list[str], click.Command]] = []
    context = click.Context(group)
    for name in group.list_commands(context):  # not group.commands: the top level loads commands on use
        command = group.get_command(context, name)
        if command is None:
            raise InternalError("command is missing")
        found.append(([*prefix, name], command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, [*prefix, name]))
    return found


def render_cli_reference() -> str:
    parts = [HEADER]
    for path, command in [(["kpitree"], cli), *_commands(cli, ["kpitree"])]:
        with click.Context(
            command,
            info_name=" ".join(path),
            terminal_width=100,
            max_content_width=100,
            help_option_names=["-h", "--help"],
        ) as ctx:
            help_text = command.get_help(ctx)
        parts.append(f"\n## `{' '.join(path)}`\n\n```text\n{help_text}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    print(render_cli_reference(), end="")
