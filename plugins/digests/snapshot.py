"""What a snapshot holds, computed from the ledger's aggregates only (SPEC §5)."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

SLOT_HOURS = 6
"""Snapshots are taken once per 6-hour slot (00, 06, 12, 18 UTC)."""


def slot_of(now: datetime) -> datetime:
    """The start (UTC) of the 6-hour slot ``now`` falls in."""
    now = now.astimezone(UTC)
    return now.replace(hour=now.hour - now.hour % SLOT_HOURS, minute=0, second=0,
                       microsecond=0)


def next_slot(slot: datetime) -> datetime:
    return slot + timedelta(hours=SLOT_HOURS)


def median(balances: list[int]) -> float:
    """The median balance (0 without accounts)."""
    return float(statistics.median(balances)) if balances else 0.0


@attrs.frozen
class Snapshot:
    """One channel's economy at one instant (a row of ``digests_snapshots``)."""

    channel: str
    slot: datetime
    taken_at: datetime
    accounts: int
    circulation: int
    active_today: int
    earned_today: int
    spent_today: int
    gamble_net_today: int
    """Won back minus staked today, by the gamblers (negative: the house is ahead)."""
    median_balance: float
    participation: float
    extra: dict[str, Any] = attrs.field(factory=dict)

    def as_json(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["slot"] = self.slot.isoformat()
        data["taken_at"] = self.taken_at.isoformat()
        return data
