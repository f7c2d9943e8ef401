"""segment keys: canonical JSON instead of 'dim=a|b&dim2=c', which could not hold 'R&D' or 'A|B'

Rewrites every stored segment key, and the run keys built from one, so that stored values, runs,
interventions and alert events keep matching what kpitree now writes. Keys whose values held '&',
'|' or '=' were ambiguous in the old form; they are read as the old code read them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEGMENT_COLUMNS = (
    ("compute_run", "segment"),
    ("node_value", "segment"),
    ("pipeline_run", "segment"),
    ("intervention", "segment"),
    ("intervention", "control"),
)


def _json_key(old: str) -> str:
    items: dict[str, list[str]] = {}
    for part in old.split("&"):
        dim, _, values = part.partition("=")
        items.setdefault(dim, []).extend(values.split("|"))
    return json.dumps(dict(sorted(items.items())), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def upgrade() -> None:
    bind = op.get_bind()
    run_keys: dict[str, str] = {}
    for run_key, segment in bind.execute(sa.text("SELECT run_key, segment FROM pipeline_run WHERE segment <> ''")):
        if not segment.startswith("{"):
            run_keys[run_key] = run_key.replace(f"/{segment}/", f"/{_json_key(segment)}/", 1)
    for table, column in SEGMENT_COLUMNS:
        olds = [row[0] for row in bind.execute(sa.text(f"SELECT DISTINCT {column} FROM {table} WHERE {column} <> ''"))]
        for old in olds:
            if not old.startswith("{"):
                bind.execute(
                    sa.text(f"UPDATE {table} SET {column} = :new WHERE {column} = :old"),
                    {"new": _json_key(old), "old": old},
                )
    for table in ("pipeline_run", "alert_event", "outbox"):
        for old, new in run_keys.items():
            bind.execute(sa.text(f"UPDATE {table} SET run_key = :new WHERE run_key = :old"), {"new": new, "old": old})


def downgrade() -> None:
    pass  # the old form cannot hold every value the new one does; nothing to undo safely
