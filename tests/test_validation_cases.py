"""Every validation case is reported at the exact line (and, where marked, column).

Each fixture in fixtures/bad_trees marks its mistakes with ``# expect: <code>`` (or
``# expect: <code>@<column>``) on the line where the issue must be reported. The reported issues
must match the marks exactly: nothing missing, nothing extra.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kpitree.tree_files import load_tree
from tests.conftest import FIXTURES

BAD_TREES = sorted((FIXTURES / "bad_trees").glob("*.yaml"))
_MARK = re.compile(r"#\s*expect:\s*(?P<code>[a-z_]+)(?:@(?P<column>\d+))?")


def expected_marks(path: Path) -> set[tuple[int, str, int | None]]:
    marks = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for match in _MARK.finditer(line):
            column = int(match["column"]) if match["column"] else None
            marks.add((number, match["code"], column))
    return marks


@pytest.mark.parametrize("path", BAD_TREES, ids=lambda p: p.stem)
def test_issues_match_the_marked_lines(path: Path) -> None:
    expected = expected_marks(path)
    assert expected, f"{path.name} marks no expected issue"
    result = load_tree(path)
    columns_checked = {(line, code) for line, code, column in expected if column is not None}
    reported = {
        (issue.line, issue.code, issue.column if (issue.line, issue.code) in columns_checked else None)
        for issue in result.issues
    }
    assert reported == expected
    assert result.tree is None
    assert all(issue.file == str(path) for issue in result.issues)


@pytest.mark.parametrize("path", BAD_TREES, ids=lambda p: p.stem)
def test_every_issue_has_a_message_and_a_hint(path: Path) -> None:
    for issue in load_tree(path).issues:
        assert issue.message.strip()
        assert issue.hint.strip(), f"{issue.code} at line {issue.line} has no hint"


def test_unknown_keys_suggest_the_key_meant() -> None:
    hints = {issue.line: issue.hint for issue in load_tree(FIXTURES / "bad_trees" / "unknown_keys.yaml").issues}
    assert hints == {
        3: "did you mean 'timezone'?",
        10: "did you mean 'formula'?",
        14: "did you mean 'column'?",
    }


def test_unknown_references_suggest_the_name_meant() -> None:
    issues = load_tree(FIXTURES / "bad_trees" / "unknown_references.yaml").issues
    by_code = {issue.code + str(issue.line): issue for issue in issues}
    assert by_code["unknown_person15"].hint == "did you mean 'ann'?"
    assert by_code["unknown_source17"].hint == "did you mean 'activities'?"


def test_a_cycle_is_named_in_full() -> None:
    (issue,) = load_tree(FIXTURES / "bad_trees" / "cycle.yaml").issues
    assert issue.message == "cycle in the tree: a -> b -> c -> a"


def test_a_timezone_typo_suggests_the_zone() -> None:
    issues = load_tree(FIXTURES / "bad_trees" / "cron_and_timezone.yaml").issues
    tz = next(issue for issue in issues if issue.code == "unknown_timezone")
    assert tz.hint == "did you mean 'Europe/London'?"


def test_ten_mistakes_give_ten_messages_in_one_run() -> None:
    result = load_tree(FIXTURES / "bad_trees" / "ten_mistakes.yaml")
    assert len(result.issues) == 10
    assert len({issue.code for issue in result.issues}) == 10
