"""The data contract: the tables kpitree expects in a warehouse and their default column names.

A tree's source names the contract table it follows (``contract: activities``); every contract
column is then available under its contract name, and ``columns:`` maps the ones a warehouse
spells differently. Types are logical, used by ``kpitree load`` to check rows.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final


class ColumnType(enum.StrEnum):
    ID = "id"  # an identifier: text or integer
    TEXT = "text"
    BOOLEAN = "boolean"
    NUMBER = "number"
    DATE = "date"
    TIMESTAMP = "timestamp"  # with time zone


CONTRACT: Final = MappingProxyType(
    {
        "activities": MappingProxyType(
            {
                "activity_id": ColumnType.ID,
                "contact_id": ColumnType.ID,
                "account_id": ColumnType.ID,
                "rep_id": ColumnType.ID,
                "channel": ColumnType.TEXT,  # call / email / meeting / social / task
                "kind": ColumnType.TEXT,  # touch / internal_note / system_event
                "is_automated": ColumnType.BOOLEAN,  # sequence emails: counted, kept apart from manual
                "source_system": ColumnType.TEXT,
                "external_id": ColumnType.TEXT,  # with source_system, identifies a synced record
                "occurred_at": ColumnType.TIMESTAMP,
            }
        ),
        "reps": MappingProxyType(
            {
                "rep_id": ColumnType.ID,
                "team": ColumnType.TEXT,  # the sales team: SMB / Mid-market / Enterprise
                "region": ColumnType.TEXT,  # the rep's territory: NA / EMEA / APAC / LATAM
            }
        ),
        "rep_capacity": MappingProxyType(
            {
                "rep_id": ColumnType.ID,
                "day": ColumnType.DATE,
                "selling_hours": ColumnType.NUMBER,
                "admin_hours": ColumnType.NUMBER,
            }
        ),
        "signals": MappingProxyType(
            {
                "signal_id": ColumnType.ID,
                "contact_id": ColumnType.ID,
                "account_id": ColumnType.ID,
                "signal_type": ColumnType.TEXT,
                "occurred_at": ColumnType.TIMESTAMP,
                "quantity": ColumnType.NUMBER,  # optional: minutes in app, pages read; 1 when absent
            }
        ),
        "accounts": MappingProxyType(
            {
                "account_id": ColumnType.ID,
                "name": ColumnType.TEXT,
                "segment": ColumnType.TEXT,  # SMB / Mid-market / Enterprise
                "motion": ColumnType.TEXT,  # outbound / inbound
                "csm_email": ColumnType.TEXT,  # the account's customer success manager
            }
        ),
        "outcomes": MappingProxyType(
            {
                "account_id": ColumnType.ID,
                "contact_id": ColumnType.ID,
                "outcome": ColumnType.TEXT,  # renewed / churned / won / lost
                "decided_at": ColumnType.TIMESTAMP,
            }
        ),
    }
)


def contract_columns(table: str) -> tuple[str, ...]:
    """The contract's column names for ``table`` (empty for an unknown table)."""
    return tuple(CONTRACT.get(table, {}))


def contract_types(table: str | None) -> Mapping[str, ColumnType]:
    """Column name -> logical type for contract table ``table`` (empty when there is none)."""
    return CONTRACT.get(table or "", MappingProxyType({}))
