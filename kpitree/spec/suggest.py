"""'Did you mean' hints."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, candidates: Iterable[str], otherwise: str) -> str:
    """A hint naming the closest candidate to ``word``, or ``otherwise`` when none is close."""
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else otherwise
