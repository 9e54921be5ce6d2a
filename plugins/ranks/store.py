"""Stored ranks: the ``ranks_users`` rows, mirrored in memory.

Every rank write goes through :class:`RankStore` under its lock, inside a transaction the caller
opened; the in-memory mirror is updated only after that transaction committed
(:meth:`RankStore.remember`). The hooks that price, multiply and hand out allowances read the
mirror only (they run for every award of a presence tick: no database round trip), so a user's
rank is known from start-up on (:meth:`RankStore.load` reads every row once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime

import attrs
import sqlalchemy as sa

from economy_core import PluginConnection, PluginDatabase, user_key

from . import tables


@attrs.frozen
class Standing:
    """A user's stored rank: ``tier`` (index), ``held`` (see :mod:`.tiers`), the CyTube level
    still to ask the robot for (0: none)."""

    tier: int = 0
    held: int | None = None
    level_pending: int = 0


NOBODY = Standing()


@attrs.frozen
class Change:
    """A rank about to be stored for a user (a promotion, or an admin's set)."""

    username: str
    old: Standing
    tier: int
    held: int | None
    level_pending: int
    set_by: str | None = None

    @property
    def key(self) -> str:
        return user_key(self.username)

    @property
    def standing(self) -> Standing:
        return Standing(self.tier, self.held, self.level_pending)


class RankStore:
    """See the module docstring."""

    def __init__(self, db: PluginDatabase) -> None:
        self._db = db
        self._rows: dict[tuple[str, str], Standing] = {}
        self._pending: dict[str, dict[str, int]] = {}
        """Channel → user key → CyTube level still to ask for (looked up on every join)."""
        self.lock = asyncio.Lock()
        """Held around every rank write (one writer at a time: the mirror stays exact)."""

    async def load(self) -> None:
        u = tables.users
        async with self._db.connect() as conn:
            result = await conn.execute(sa.select(u.c.channel, u.c.user_key, u.c.tier, u.c.held,
                                                  u.c.level_pending))
            self._rows = {(r.channel, r.user_key): Standing(int(r.tier), r.held,
                                                            int(r.level_pending))
                          for r in result}
        self._pending = {}
        for (channel, key), standing in self._rows.items():
            self._index(channel, key, standing)

    def _index(self, channel: str, key: str, standing: Standing) -> None:
        pending = self._pending.setdefault(channel, {})
        if standing.level_pending > 0:
            pending[key] = standing.level_pending
        else:
            pending.pop(key, None)

    def get(self, channel: str, key: str) -> Standing:
        """The stored rank of a user key (tier 0 without a row)."""
        return self._rows.get((channel, key), NOBODY)

    def tier(self, channel: str, username: str) -> int:
        return self._rows.get((channel, user_key(username)), NOBODY).tier

    def counts(self, channel: str) -> dict[int, int]:
        """How many stored users are at each tier (users without a row are not counted)."""
        out: dict[int, int] = {}
        for (ch, _), standing in self._rows.items():
            if ch == channel:
                out[standing.tier] = out.get(standing.tier, 0) + 1
        return out

    def pending_levels(self, channel: str) -> dict[str, int]:
        """User key → the CyTube level still to ask for."""
        return self._pending.get(channel, {})

    # -- writes (inside the caller's transaction, under the lock) --

    async def write(self, conn: PluginConnection, channel: str, changes: Sequence[Change],
                    now: datetime) -> None:
        """Store ``changes`` (rows created on first need)."""
        u = tables.users
        fresh = [c for c in changes if (channel, c.key) not in self._rows]
        known = [c for c in changes if (channel, c.key) in self._rows]
        if fresh:
            await conn.execute(u.insert(), [
                {"channel": channel, "user_key": c.key, "username": c.username, "tier": c.tier,
                 "held": c.held, "set_by": c.set_by, "level_pending": c.level_pending,
                 "updated_at": now} for c in fresh])
        if known:
            await conn.execute(
                u.update().where(u.c.channel == sa.bindparam("b_channel"),
                                 u.c.user_key == sa.bindparam("b_key"))
                .values(username=sa.bindparam("b_name"), tier=sa.bindparam("b_tier"),
                        held=sa.bindparam("b_held"), set_by=sa.bindparam("b_by"),
                        level_pending=sa.bindparam("b_level"), updated_at=sa.bindparam("b_at")),
                [{"b_channel": channel, "b_key": c.key, "b_name": c.username, "b_tier": c.tier,
                  "b_held": c.held, "b_by": c.set_by, "b_level": c.level_pending, "b_at": now}
                 for c in known])

    async def clear_level(self, conn: PluginConnection, channel: str, key: str,
                          level: int) -> None:
        """The robot was asked for ``level`` (or the user has it): nothing pending up to it."""
        u = tables.users
        await conn.execute(u.update().where(u.c.channel == channel, u.c.user_key == key,
                                            u.c.level_pending <= level)
                           .values(level_pending=0))

    # -- after the commit --

    def remember(self, channel: str, changes: Iterable[Change]) -> None:
        for change in changes:
            self._rows[(channel, change.key)] = change.standing
            self._index(channel, change.key, change.standing)

    def level_cleared(self, channel: str, key: str, level: int) -> None:
        found = self._rows.get((channel, key))
        if found is not None and found.level_pending <= level:
            self._rows[(channel, key)] = attrs.evolve(found, level_pending=0)
            self._index(channel, key, self._rows[(channel, key)])
