"""Trigger analytics (SPEC §5): per channel, trigger and day the paid hits, the exact number of
distinct paid users and the Z credited. Written inside the ledger transaction that credits the
hits, with a fixed number of statements per batch however many triggers fired."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import attrs
import sqlalchemy as sa

from . import tables


@attrs.define
class Tally:
    """One (channel, trigger, day)'s share of a batch."""

    hits: int = 0
    z: int = 0
    users: set[str] = attrs.field(factory=set)


Key = tuple[str, str, date]
"""(channel, trigger id, day)"""


async def record(conn: Any, tallies: Mapping[Key, Tally]) -> None:
    """Add a batch's tallies; ``conn`` is the ledger transaction's connection."""
    if not tallies:
        return
    a, u = tables.analytics, tables.analytics_users
    channels = {k[0] for k in tallies}
    days = {k[2] for k in tallies}
    triggers = {k[1] for k in tallies}
    keys = set().union(*(t.users for t in tallies.values()))
    seen: set[tuple[str, str, date, str]] = set()
    if keys:
        rows = await conn.execute(sa.select(u.c.channel, u.c.trigger_id, u.c.day, u.c.user_key)
                                  .where(u.c.channel.in_(channels), u.c.day.in_(days),
                                         u.c.trigger_id.in_(triggers), u.c.user_key.in_(keys)))
        seen = {(r[0], r[1], r[2], r[3]) for r in rows}
    fresh: dict[Key, int] = {}
    new_users = []
    for (c, t, d), tally in tallies.items():
        for k in sorted(tally.users):
            if (c, t, d, k) not in seen:
                new_users.append({"channel": c, "trigger_id": t, "day": d, "user_key": k})
                fresh[(c, t, d)] = fresh.get((c, t, d), 0) + 1
    if new_users:
        await conn.execute(u.insert(), new_users)
    existing = {(r[0], r[1], r[2]) for r in await conn.execute(
        sa.select(a.c.channel, a.c.trigger_id, a.c.day).where(
            a.c.channel.in_(channels), a.c.day.in_(days), a.c.trigger_id.in_(triggers)))}
    updates = [{"b_channel": c, "b_trigger": t, "b_day": d, "b_hits": tally.hits,
                "b_users": fresh.get((c, t, d), 0), "b_z": tally.z}
               for (c, t, d), tally in tallies.items() if (c, t, d) in existing]
    inserts = [{"channel": c, "trigger_id": t, "day": d, "hits": tally.hits,
                "unique_users": fresh.get((c, t, d), 0), "z": tally.z}
               for (c, t, d), tally in tallies.items() if (c, t, d) not in existing]
    if updates:
        await conn.execute(
            a.update().where(a.c.channel == sa.bindparam("b_channel"),
                             a.c.trigger_id == sa.bindparam("b_trigger"),
                             a.c.day == sa.bindparam("b_day"))
            .values(hits=a.c.hits + sa.bindparam("b_hits"),
                    unique_users=a.c.unique_users + sa.bindparam("b_users"),
                    z=a.c.z + sa.bindparam("b_z")), updates)
    if inserts:
        await conn.execute(a.insert(), inserts)


@attrs.frozen
class Row:
    """One trigger's analytics for a day."""

    trigger_id: str
    hits: int
    unique_users: int
    z: int


async def day_rows(conn: Any, channel: str, day: date) -> list[Row]:
    """Every trigger with hits on ``day``, most hits first."""
    a = tables.analytics
    result = await conn.execute(
        sa.select(a.c.trigger_id, a.c.hits, a.c.unique_users, a.c.z)
        .where(a.c.channel == channel, a.c.day == day)
        .order_by(a.c.hits.desc(), a.c.trigger_id))
    return [Row(r[0], int(r[1]), int(r[2]), int(r[3])) for r in result]


async def forget_users_through(conn: Any, channel: str, day: date) -> None:
    """Drop the channel's per-user rows of ``day`` and before: closed days (their counts are
    already in the totals, and no later line can belong to them)."""
    u = tables.analytics_users
    await conn.execute(u.delete().where(u.c.channel == channel, u.c.day <= day))
