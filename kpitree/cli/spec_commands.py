"""Commands about tree files themselves: validate, schema, tree show."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click

from kpitree.cli.options import TREES_DIR_OPTION
from kpitree.cli.output import console
from kpitree.cli.plain import echo
from kpitree.render.tree_view import render_tree
from kpitree.resources import default_trees_dir, resolve_tree
from kpitree.spec.schema import tree_json_schema
from kpitree.tree_files import LoadResult, load_tree, load_tree_or_raise, tree_files


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option(
    "--warehouse",
    metavar="URL",
    default=None,
    help="Also check every source, column and type against this live warehouse (no row is read).",
)
def validate(paths: tuple[Path, ...], output_format: str, strict: bool, warehouse: str | None) -> None:
    """Check tree files and list every problem with file:line:column and a fix hint.

    PATHS are tree files or directories of them (default: the trees directory). With --warehouse,
    each valid tree is also checked against that warehouse: its tables, columns and their types,
    each statement bound by the engine (LIMIT 0), and joins whose key repeats. Exits 1 when any
    file has an error (or, with --strict, a warning), 0 otherwise.
    """
    results = [load_tree(path) for path in tree_files(paths or (default_trees_dir(),))]
    if warehouse is not None:
        results = _against_warehouse(results, warehouse)
    failed = any(r.errors or (strict and r.warnings) for r in results)
    if output_format == "json":
        echo(json.dumps(_json_report(results, failed), indent=2))
    else:
        _text_report(results)
    if failed:
        raise SystemExit(1)


def _against_warehouse(results: list[LoadResult], url: str) -> list[LoadResult]:
    from kpitree.compute.preflight import preflight
    from kpitree.spec.issues import Level, sort_issues
    from kpitree.warehouse import open_warehouse

    opened = open_warehouse(url)
    checked = []
    try:
        for result in results:
            if result.tree is None:
                checked.append(result)
                continue
            found = [
                result.issue_at(
                    f.message,
                    f.hint,
                    source=f.source,
                    node=f.node,
                    key=f.key,
                    level=Level.ERROR if f.is_error else Level.WARNING,
                )
                for f in preflight(result.tree, opened)
            ]
            checked.append(replace(result, issues=tuple(sort_issues([*result.issues, *found]))))
    finally:
        opened.dispose()
    return checked


def _text_report(results: list[LoadResult]) -> None:
    for result in results:
        for issue in result.issues:
            echo(issue.format())
    errors = sum(len(r.errors) for r in results)
    warnings = sum(len(r.warnings) for r in results)
    for result in results:
        if not result.issues:
            echo(f"{result.file}: ok")
    echo(f"{len(results)} file(s) checked: {errors} error(s), {warnings} warning(s)")


def _json_report(results: list[LoadResult], failed: bool) -> dict[str, object]:
    return {
        "valid": not failed,
        "files": [
            {"file": r.file, "valid": not r.errors, "errors": len(r.errors), "warnings": len(r.warnings)}
            for r in results
        ],
        "issues": [issue.to_json() for r in results for issue in r.issues],
    }


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
def schema(output: Path | None) -> None:
    """Print (or write) the JSON Schema of tree files, for editor autocomplete.

    Point your editor at it, e.g. with a first line
    '# yaml-language-server: $schema=../docs/tree.schema.json'.
    """
    text = json.dumps(tree_json_schema(), indent=2) + "\n"
    if output is None:
        echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        echo(f"wrote {output}")


@click.group()
def tree() -> None:
    """Look at trees."""


@tree.command("show")
@click.argument("tree_name", metavar="TREE")
@TREES_DIR_OPTION
def tree_show(tree_name: str, trees_dir: Path | None) -> None:
    """Print TREE (a file, or an id in the trees directory) with formulas, owners and bands."""
    metric_tree = load_tree_or_raise(resolve_tree(tree_name, trees_dir))
    console().print(render_tree(metric_tree))


@tree.command("list")
@TREES_DIR_OPTION
def tree_list(trees_dir: Path | None) -> None:
    """List the trees in the trees directory, and whether each is valid."""
    directory = trees_dir or default_trees_dir()
    for result in (load_tree(path) for path in tree_files((directory,))):
        status = "ok" if not result.errors else f"{len(result.errors)} error(s)"
        title = result.tree.title if result.tree else ""
        echo(f"{Path(result.file).stem:40} {status:12} {title}")
