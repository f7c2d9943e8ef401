"""A run's entity crossings as CSV: the file the run writes beside its report, and the attachment
of each email that stays small enough to carry it (docs/alerts.md).

A run's messages each list a share of the same crossings (an owner's, a digest's) and its file
lists them all, so :class:`EntityRows` formats each crossing's row once per run and every list
ranks them the same way: those whose score fell most first (:func:`crossing_order`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from kpitree.alert.views import AlertView

ENTITY_COLUMNS = (
    "kind",
    "entity",
    "node",
    "rule",
    "severity",
    "band_before",
    "score_before",
    "band_after",
    "score_after",
    "fell_most",
    "moved_by",
    "owner",
)


def crossing_order(view: AlertView) -> tuple[float, str]:
    """The rank of an entity crossing in every list and summary: largest drop first, then by entity."""
    return (-float(view["crossing"].get("drop", 0.0)), str(view["entity"]))


@dataclass(eq=False)
class EntityRows:
    """Each entity crossing's rank and CSV row, made the first time a list holds it."""

    # id(view) -> (the view, kept so that its id stays its own; its rank; its row)
    _made: dict[int, tuple[AlertView, tuple[float, str], list[str]]] = field(default_factory=dict)

    def csv(self, views: Sequence[AlertView]) -> str:
        """The entity crossings of ``views`` as CSV, those that fell most first (a formula-looking
        value is quoted with a leading apostrophe: a spreadsheet must not run a warehouse value)."""
        made = [self._made_for(view) for view in views if view.get("crossing")]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(ENTITY_COLUMNS)
        writer.writerows(row for _view, _rank, row in sorted(made, key=lambda m: m[1]))
        return out.getvalue()

    def _made_for(self, view: AlertView) -> tuple[AlertView, tuple[float, str], list[str]]:
        found = self._made.get(id(view))
        if found is None:
            found = self._made[id(view)] = (view, crossing_order(view), _row(view))
        return found


def _row(view: AlertView) -> list[str]:
    crossing = view["crossing"]
    values = [
        crossing["kind"],
        view["entity"],
        view["node"]["id"],
        view["rule"],
        view["severity"],
        crossing["band_before"] or "",
        crossing["score_before"],
        crossing["band_after"],
        crossing["score_after"],
        crossing["fell_most"] or "",
        crossing["moved_by"],
        view["branch"]["owner"] or "",
    ]
    return [_cell(str(value)) for value in values]


def _cell(value: str) -> str:
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(value) else value


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
