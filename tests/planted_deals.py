"""Deals planted from a table of cells (month, region, segment, channel -> deals closed and won),
so every expected number in the drill and segment tests is arithmetic on that table, not a
recorded output:

* 2026-01 -> 02: deals closed fall by 2 x 60 in the (EMEA, SMB) cell, every other cell is flat but
  one that gains 3 (NA, Enterprise, web): a drill by region, segment and channel names
  ``region=EMEA, segment=SMB`` first, with -120.
* 2026-03 -> 04: a pure rate change: the same deals closed in every cell, won deals in (LATAM,
  Mid-market) fall from half to a fifth: every mix effect is 0, LATAM Mid-market's rate effect is
  the whole movement.
* 2026-05 -> 06: a pure mix shift: each segment wins at its own constant rate (SMB 20%, Mid-market
  30%, Enterprise 50%), and deals move from SMB to Enterprise: every rate effect by segment is 0.
"""

from __future__ import annotations

import itertools

import duckdb

REGIONS = ("NA", "EMEA", "APAC", "LATAM")
SEGMENTS = ("SMB", "Mid-market", "Enterprise")
CHANNELS = ("web", "partner")
SEGMENT_RATE = {"SMB": (1, 5), "Mid-market": (3, 10), "Enterprise": (1, 2)}  # scenario 3: won = closed * a / b


def _cells() -> list[tuple[str, str, str, str, int, int]]:
    """(month, region, segment, channel, closed, won)."""
    rows = []
    for (r, region), (s, segment), (c, channel) in itertools.product(
        enumerate(REGIONS), enumerate(SEGMENTS), enumerate(CHANNELS)
    ):
        closed = 100 + 10 * r + 20 * s + 5 * c
        won = closed // 2 if (region, segment) == ("LATAM", "Mid-market") else closed // 3
        # 1: a fall in one cell; one other cell rises a little
        planted = closed - 60 if (region, segment) == ("EMEA", "SMB") else closed
        planted += 3 if (region, segment, channel) == ("NA", "Enterprise", "web") else 0
        rows.append(("2026-01", region, segment, channel, closed, closed // 3))
        rows.append(("2026-02", region, segment, channel, planted, min(planted, closed // 3)))
        # 2: the same deals closed, a lower win rate in one cell
        rows.append(("2026-03", region, segment, channel, closed, won))
        fallen = closed // 5 if (region, segment) == ("LATAM", "Mid-market") else won
        rows.append(("2026-04", region, segment, channel, closed, fallen))
        # 3: constant rates per segment, deals moving from SMB to Enterprise
        a, b = SEGMENT_RATE[segment]
        before = 100 if segment != "Enterprise" else 40
        after = {"SMB": 50, "Mid-market": 100, "Enterprise": 90}[segment]
        rows.append(("2026-05", region, segment, channel, before, before * a // b))
        rows.append(("2026-06", region, segment, channel, after, after * a // b))
    return rows


CELLS = _cells()


def staging_deals() -> duckdb.DuckDBPyConnection:
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    db.execute(
        "CREATE TABLE cells (month VARCHAR, region VARCHAR, segment VARCHAR, channel VARCHAR, closed INT, won INT)"
    )
    db.executemany("INSERT INTO cells VALUES (?, ?, ?, ?, ?, ?)", CELLS)
    db.execute(
        """CREATE TABLE deals AS
        SELECT month || '-' || region || '-' || segment || '-' || channel || '-' || i AS deal_id,
               region, segment, channel, i < won AS is_won,
               CAST(month || '-10 12:00:00+00' AS TIMESTAMPTZ) + to_minutes(i) AS closed_at,
               CAST(1000 + 10 * i AS DOUBLE) AS amount
        FROM cells, range(closed) t(i)"""
    )
    return db


def total(month: str, column: int, **where: str) -> int:
    keys = {"region": 1, "segment": 2, "channel": 3}
    return sum(
        row[column]  # type: ignore[misc]
        for row in CELLS
        if row[0] == month and all(row[keys[k]] == v for k, v in where.items())
    )


def closed(month: str, **where: str) -> int:
    return total(month, 4, **where)


def won(month: str, **where: str) -> int:
    return total(month, 5, **where)
