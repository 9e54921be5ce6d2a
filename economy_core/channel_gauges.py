"""The core's per-channel gauges: present users, accounts, circulation, median, participation.

:meth:`ChannelGauges.refresh` reads the ledger's accounts table with one aggregate query for every
channel plus, per channel, one indexed lookup of the middle balance(s) and one of the present
users' accounts, and sets the gauges. The app runs it on its metrics schedule (never per scrape).

Definitions (label ``channel``):

- ``economy_active_users``: users in the room now, the bot itself excluded;
- ``economy_total_accounts``, ``economy_total_circulation``: accounts and Σ balances;
- ``economy_median_balance``: the median balance over the channel's accounts (0 without any);
- ``economy_participation_rate``: present users holding an account ÷ present users × 100 (0 when
  the room is empty), so it never exceeds 100.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .db import IN_CHUNK, chunks
from .events import user_key
from .figures import participation_rate
from .ledger.schema import accounts
from .metrics import Metrics
from .room import Rooms


class ChannelGauges:
    """Sets the core's channel gauges on :meth:`refresh`."""

    def __init__(self, engine: AsyncEngine, rooms: Rooms, metrics: Metrics,
                 bot_username: Callable[[], str]) -> None:
        self._engine = engine
        self._rooms = rooms
        self._metrics = metrics
        self._bot = bot_username

    async def refresh(self) -> None:
        a = accounts
        channels = self._rooms.channels
        bot = user_key(self._bot())
        async with self._engine.connect() as conn:
            totals = {str(r.channel): (int(r.n), int(r.total)) for r in await conn.execute(
                sa.select(a.c.channel, sa.func.count().label("n"),
                          sa.func.coalesce(sa.func.sum(a.c.balance), 0).label("total"))
                .where(a.c.channel.in_(channels)).group_by(a.c.channel))}
            for channel in channels:
                count, total = totals.get(channel, (0, 0))
                median = 0.0
                if count:
                    middle = [int(v) for v in (await conn.execute(
                        sa.select(a.c.balance).where(a.c.channel == channel)
                        .order_by(a.c.balance).offset((count - 1) // 2)
                        .limit(2 - count % 2))).scalars()]
                    median = sum(middle) / len(middle)
                present = [u.username for u in self._rooms[channel].present()
                           if user_key(u.username) != bot]
                holding = 0
                for part in chunks([user_key(name) for name in present], IN_CHUNK):
                    holding += int((await conn.execute(
                        sa.select(sa.func.count()).select_from(a).where(
                            a.c.channel == channel, a.c.user_key.in_(part)))).scalar_one())
                labels = {"channel": channel}
                m = self._metrics
                m.active_users.set(labels, len(present))
                m.total_accounts.set(labels, count)
                m.circulation.set(labels, total)
                m.median_balance.set(labels, median)
                m.participation.set(labels, participation_rate(len(present), holding))
