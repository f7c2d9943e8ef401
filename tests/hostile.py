"""Hostile tree files, made from the alerting fixture: each the smallest reproduction of one attack
or oddity found by trying kpitree as an attacker would (issue 16). Generated rather than committed,
since several hold bytes (NUL, ESC) that tools and diffs mangle.

Each case says what ``kpitree validate`` must report: an issue code at a line (1-based).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.alerting_world import FIXTURE

BASE = FIXTURE.read_text(encoding="utf-8")
HEADER = BASE.split("nodes:\n")[0]


@dataclass(frozen=True)
class Hostile:
    name: str
    text: str
    code: str
    line: int

    def write(self, folder: Path) -> Path:
        path = folder / f"{self.name}.yaml"
        path.write_text(self.text, encoding="utf-8")
        return path


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def _case(name: str, text: str, code: str, needle: str) -> Hostile:
    return Hostile(name, text, code, _line_of(text, needle))


def _nested_splits(depth: int) -> str:
    """A measure node whose split branches split again, ``depth`` levels down."""
    lines = [
        "nodes:",
        "  - id: touches",
        "    direction: higher_is_better",
        "    owners: {accountable: dana}",
        "    measure: {source: activities, agg: count}",
    ]
    pad = "    "
    for level in range(depth):
        lines += [f"{pad}split:", f"{pad}  by: channel", f"{pad}  branches:", f"{pad}    - id: level_{level}"]
        pad += "      "
        lines.append(f"{pad}values: [call]")
    return HEADER + "\n".join(lines) + "\n"


def _bomb() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _titled(title: str) -> str:
    return BASE.replace("title: Touches & alerts", f"title: {title}")


BOMB = _bomb()
NESTED_SPLITS = _nested_splits(90)
BRACKETS = BASE.replace("title: Touches & alerts", "title: Touches\nextra: " + "[" * 400 + "]" * 400)
LONG_FORMULA = BASE.replace(
    "    measure: {source: activities, agg: count}\n    alerts:",
    "    formula: " + " + ".join(["calls"] * 1000) + "\n    alerts:",
    1,
)

CASES = (
    _case("yaml_bomb", BOMB, "yaml_too_complex", "f: &f"),
    _case(
        "custom_tag", BASE.replace("fallback_receiver: ops", "fallback_receiver: !custom ops"), "yaml_tag", "!custom"
    ),
    _case("tag_on_a_list", BASE.replace("teams:\n", "teams: !foo\n"), "yaml_tag", "teams: !foo"),
    _case("python_tag", BASE.replace("tree: alerting", "tree: !!python/name:os.system alerting"), "yaml_tag", "tree:"),
    _case("nul_byte", _titled("Touches \x00 alerts"), "control_character", "title: Touches"),
    _case("esc_byte", _titled("Touches \x1b[31m"), "control_character", "title: Touches"),
    _case("escaped_esc", _titled('"Touches \\e[2J"'), "control_character", 'title: "'),
    _case("huge_integer", BASE.replace("below: 25", "below: " + "9" * 5000), "not_a_number", "below: 999"),
    _case("nested_splits", NESTED_SPLITS, "yaml_too_complex", "level_20"),
    _case("nested_brackets", BRACKETS, "yaml_too_complex", "extra:"),
    _case("thousand_terms", LONG_FORMULA, "formula_too_complex", "formula: calls"),
    _case(
        "deep_formula",
        LONG_FORMULA.replace(" + ".join(["calls"] * 1000), "+".join(["calls"] * 300)),
        "formula_too_complex",
        "formula: calls",
    ),
    _case("nan_weight_like", BASE.replace("pct: 20", "pct: .nan"), "not_a_number", "pct: .nan"),
    _case("infinite_threshold", BASE.replace("below: 25", "below: 1e309"), "not_a_number", "below: 1e309"),
    _case(
        "nan_target",
        BASE.replace(
            "    measure: {source: activities, agg: count}\n",
            "    target: {low: .nan, high: .inf}\n    measure: {source: activities, agg: count}\n",
            1,
        ),
        "not_a_number",
        "target:",
    ),
    _case("quoted_infinity", BASE.replace("pct: 20", 'pct: "infinity"'), "not_a_number", "pct:"),
)
