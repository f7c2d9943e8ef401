"""A source's ``time_format``: strptime codes for a time column held as text (a Salesforce report's
``8/24/2025 5:30 PM`` is ``%m/%d/%Y %I:%M %p``). Checked when the tree loads; applied in SQL by
:mod:`kpitree.compute.column_types`, in each engine's own way (:mod:`kpitree.dialects`)."""

from __future__ import annotations

import re
from typing import Final

# The strptime codes kpitree accepts; each engine's translation is in kpitree.dialects.
STRPTIME_CODES: Final = ("%Y", "%y", "%m", "%d", "%H", "%I", "%M", "%S", "%f", "%p", "%b", "%B", "%z", "%%")
_CODE: Final = re.compile(r"%.")
_TIME_CODES: Final = frozenset({"%H", "%I", "%M", "%S", "%f", "%p", "%z"})
TIME_FORMAT_HINT: Final = "strptime codes: " + " ".join(code for code in STRPTIME_CODES if code != "%%")


def time_format_problem(fmt: str) -> str | None:
    """Why ``fmt`` cannot be a source's time_format (None when it can)."""
    unknown = sorted({code for code in _CODE.findall(fmt) if code not in STRPTIME_CODES})
    if unknown:
        return f"{', '.join(unknown)} is not supported"
    codes = set(_CODE.findall(fmt))
    if not codes & {"%Y", "%y"} or not codes & {"%m", "%b", "%B"} or "%d" not in codes:
        return "it needs a year (%Y or %y), a month (%m, %b or %B) and a day (%d)"
    return None


def is_date_only(fmt: str) -> bool:
    return not set(_CODE.findall(fmt)) & _TIME_CODES
