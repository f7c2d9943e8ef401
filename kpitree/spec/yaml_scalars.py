"""What a scalar in a tree file may be: YAML's core types, finite, of a sane size, printable.

The reader (:mod:`kpitree.spec.yaml_reader`) resolves each plain scalar's type with ruamel.yaml's
YAML 1.2 resolver and builds its value here, never through a constructor a tag could pick.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from kpitree.spec.issues import IssueCode, Position

MAX_INT_DIGITS: Final = 30
MAX_FLOAT_CHARS: Final = 400
MAX_REPORTED_CHARACTERS: Final = 10

# What YAML's reader refuses (everything but printable Unicode, tab, CR and LF), and what a string
# may not carry even when an escape such as "\e" or "\0" wrote it.
_NON_PRINTABLE: Final = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CONTROL_IN_TEXT: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_INT: Final = re.compile(r"^[-+]?(0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|[0-9][0-9_]*)$")
_BASES: Final = {"0x": 16, "0o": 8, "0b": 2}
_SPECIAL_FLOATS: Final = {".inf": math.inf, ".nan": math.nan}
_NAMES: Final = {"\x00": "NUL", "\x1b": "ESC", "\x07": "BEL", "\x08": "BS", "\x7f": "DEL"}


class ScalarProblem(ValueError):
    """Why a scalar cannot be used, as the issue to report at it."""

    def __init__(self, code: IssueCode, message: str, hint: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


def scalar_value(kind: str, text: str) -> Any:
    """The value of a scalar of YAML core type ``kind`` (``int``, ``str``, ...) written as ``text``."""
    if kind == "null":
        return None
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise _invalid(kind, text)
        return text.lower() == "true"
    if kind == "int":
        return _integer(text)
    if kind == "float":
        return _float(text)
    # str, timestamp (kept as written: pydantic parses ISO 8601 where a date is meant), merge, value
    match = _CONTROL_IN_TEXT.search(text)
    if match:
        raise ScalarProblem(
            IssueCode.CONTROL_CHARACTER,
            f"text holds the control character {character_name(match.group())}",
            "remove it: an escape such as \\e or \\0 in a quoted string writes one, and terminals act on them",
        )
    return text


def _integer(text: str) -> int:
    if not _INT.match(text):
        raise _invalid("int", text)
    digits = text.lstrip("+-").replace("_", "")
    if len(digits) > MAX_INT_DIGITS:
        raise _too_long(text)
    sign = -1 if text.startswith("-") else 1
    base = _BASES.get(digits[:2].lower(), 10)
    return sign * int(digits[2:] if base != 10 else digits, base)


def _float(text: str) -> float:
    if len(text) > MAX_FLOAT_CHARS:
        raise _too_long(text)
    special = _SPECIAL_FLOATS.get(text.lower().lstrip("+-"))
    try:
        number = special if special is not None else float(text.replace("_", ""))
    except ValueError:
        raise _invalid("float", text) from None
    if not math.isfinite(number):
        raise ScalarProblem(
            IssueCode.NOT_A_NUMBER,
            f"{text!r} is not a finite number",
            "write an ordinary number: NaN and infinity cannot be compared or computed with",
        )
    return number


def _too_long(text: str) -> ScalarProblem:
    return ScalarProblem(
        IssueCode.NOT_A_NUMBER,
        f"a number of {len(text):,} characters is too long for a tree file",
        f"write a number of at most {MAX_INT_DIGITS} digits",
    )


def _invalid(kind: str, text: str) -> ScalarProblem:
    return ScalarProblem(
        IssueCode.INVALID_VALUE,
        f"{text[:40]!r} is not a valid YAML {kind}",
        f"remove the !!{kind} tag, or write a valid {kind}",
    )


def character_name(character: str) -> str:
    return f"U+{ord(character):04X}" + (f" ({_NAMES[character]})" if character in _NAMES else "")


def unreadable_characters(text: str) -> tuple[str, list[int], list[tuple[Position, str]]]:
    """``text`` with every character YAML refuses replaced by a space, the offsets of all of them,
    and what to report: where each one was (the first :data:`MAX_REPORTED_CHARACTERS`, the last
    saying how many more there are)."""
    found = list(_NON_PRINTABLE.finditer(text))
    if not found:
        return text, [], []
    where: list[tuple[Position, str]] = []
    for match in found[:MAX_REPORTED_CHARACTERS]:
        line = text.count("\n", 0, match.start()) + 1
        column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        where.append((Position(line, column), f"the file holds the control character {character_name(match.group())}"))
    if len(found) > MAX_REPORTED_CHARACTERS:
        position, message = where[-1]
        where[-1] = (position, f"{message} (and {len(found) - MAX_REPORTED_CHARACTERS} more such characters)")
    return _NON_PRINTABLE.sub(" ", text), [match.start() for match in found], where
