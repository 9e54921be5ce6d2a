"""Event starts as rows (``events_occurrences``) and the switch states (``events_switches``).

Every function takes the connection of an open ledger transaction (``tx.conn``) or a read
connection; the caller decides the transaction. A start's row is its claim: :func:`exists`
then :func:`insert` in the transaction that also pays the start's presence pot. Ending,
stopping and replacing a run are conditional updates (``WHERE status='running'``), so of two
racing closers exactly one does it (and announces it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa

from economy_core import user_key

from . import tables

SCHEDULED = "scheduled"
ADHOC = "adhoc"
RUNNING = "running"

o = tables.occurrences
s = tables.switches


@attrs.define
class Occurrence:
    """One event start and its run (a row of ``events_occurrences``)."""

    channel: str
    name: str
    kind: str
    started_at: datetime
    ends_at: datetime
    multiplier: float
    announce: bool
    started_by: str | None = None
    status: str = RUNNING

    @property
    def key(self) -> tuple[str, str, datetime]:
        """(channel, name key, start): the identity of one start."""
        return (self.channel, user_key(self.name), self.started_at)

    def covers(self, now: datetime) -> bool:
        return self.status == RUNNING and self.started_at <= now < self.ends_at

    @classmethod
    def from_row(cls, row: Any) -> Occurrence:
        return cls(row.channel, row.name, row.kind, row.started_at, row.ends_at,
                   float(row.multiplier), bool(row.announce), row.started_by, row.status)


async def load(conn: Any, channels: Iterable[str], now: datetime) -> list[Occurrence]:
    """Rows that still matter at ``now``: every running one (also overdue ones, whose end is yet
    to be announced) and every one whose run has not ended (its start must not repeat)."""
    rows = await conn.execute(sa.select(o).where(
        o.c.channel.in_(list(channels)),
        sa.or_(o.c.status == RUNNING, o.c.ends_at > now)))
    return [Occurrence.from_row(r) for r in rows]


async def exists(conn: Any, occ: Occurrence) -> bool:
    found = await conn.execute(sa.select(o.c.status).where(
        o.c.channel == occ.channel, o.c.name == occ.name, o.c.started_at == occ.started_at))
    return found.first() is not None


async def insert(conn: Any, occ: Occurrence, pot: int, paid_users: int) -> None:
    await conn.execute(o.insert().values(
        channel=occ.channel, name=occ.name, started_at=occ.started_at, kind=occ.kind,
        multiplier=occ.multiplier, ends_at=occ.ends_at, status=RUNNING, announce=occ.announce,
        started_by=occ.started_by, pot=pot, paid_users=paid_users))


async def close(conn: Any, occ: Occurrence, status: str, at: datetime,
                by: str | None = None) -> bool:
    """Move a running row to ``status``; False when it was no longer running."""
    result = await conn.execute(o.update().where(
        o.c.channel == occ.channel, o.c.name == occ.name, o.c.started_at == occ.started_at,
        o.c.status == RUNNING).values(status=status, ended_at=at, ended_by=by))
    return bool(result.rowcount == 1)


async def switch_states(conn: Any, channels: Iterable[str]) -> dict[tuple[str, str], str]:
    rows = await conn.execute(sa.select(s.c.channel, s.c.source, s.c.state).where(
        s.c.channel.in_(list(channels))))
    return {(r.channel, r.source): r.state for r in rows}


async def set_switch(conn: Any, channel: str, source: str, state: str, at: datetime) -> None:
    updated = await conn.execute(s.update().where(s.c.channel == channel, s.c.source == source)
                                 .values(state=state, at=at))
    if updated.rowcount == 0:
        await conn.execute(s.insert().values(channel=channel, source=source, state=state, at=at))
