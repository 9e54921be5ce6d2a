"""Per-user flags the core itself enforces: economy bans and quiet mode.

Both are small tables (``core_bans``, ``core_quiet``) mirrored in memory so the router's gates and
the outbox's quiet check cost no query. Writes go to the database first, then the cache.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .db import NAMING, migrate
from .events import user_key

identity_metadata = sa.MetaData(naming_convention=NAMING)

core_bans = sa.Table(
    "core_bans", identity_metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
    sa.Column("username", sa.String(100), nullable=False),
    sa.Column("banned_by", sa.String(100), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("banned_at", sa.DateTime(timezone=True), nullable=False),
)

core_quiet = sa.Table(
    "core_quiet", identity_metadata,
    sa.Column("channel", sa.String(100), primary_key=True),
    sa.Column("user_key", sa.String(100), primary_key=True),
)

IDENTITY_SCHEMA_VERSION = 1


class Identity:
    """Bans and quiet mode for every channel; load with :meth:`start` before use."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._banned: set[tuple[str, str]] = set()
        self._quiet: set[tuple[str, str]] = set()

    async def start(self) -> None:
        await migrate(self._engine, "core_identity", identity_metadata, IDENTITY_SCHEMA_VERSION)
        async with self._engine.connect() as conn:
            bans = await conn.execute(sa.select(core_bans.c.channel, core_bans.c.user_key))
            self._banned = {(c, k) for c, k in bans}
            quiet = await conn.execute(sa.select(core_quiet.c.channel, core_quiet.c.user_key))
            self._quiet = {(c, k) for c, k in quiet}

    def is_banned(self, channel: str, username: str) -> bool:
        return (channel, user_key(username)) in self._banned

    def is_quiet(self, channel: str, username: str) -> bool:
        return (channel, user_key(username)) in self._quiet

    async def ban(self, channel: str, username: str, *, by: str, reason: str,
                  at: datetime) -> bool:
        """Ban a user from the economy; False when already banned."""
        if self.is_banned(channel, username):
            return False
        async with self._engine.begin() as conn:
            await conn.execute(core_bans.insert().values(
                channel=channel, user_key=user_key(username), username=username, banned_by=by,
                reason=reason, banned_at=at))
        self._banned.add((channel, user_key(username)))
        return True

    async def unban(self, channel: str, username: str) -> bool:
        """Lift a ban; False when the user was not banned."""
        if not self.is_banned(channel, username):
            return False
        async with self._engine.begin() as conn:
            await conn.execute(core_bans.delete().where(
                core_bans.c.channel == channel, core_bans.c.user_key == user_key(username)))
        self._banned.discard((channel, user_key(username)))
        return True

    async def set_quiet(self, channel: str, username: str, quiet: bool) -> bool:
        """Turn quiet mode on or off; False when it already was in that state."""
        key = (channel, user_key(username))
        if (key in self._quiet) == quiet:
            return False
        async with self._engine.begin() as conn:
            if quiet:
                await conn.execute(core_quiet.insert().values(channel=channel, user_key=key[1]))
            else:
                await conn.execute(core_quiet.delete().where(
                    core_quiet.c.channel == channel, core_quiet.c.user_key == key[1]))
        if quiet:
            self._quiet.add(key)
        else:
            self._quiet.discard(key)
        return True
