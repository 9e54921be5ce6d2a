"""Reading the committed value of a condition type for many users (see :mod:`.conditions`),
and the emotes this plugin keeps itself."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from economy_core import Kind, PluginContext, chunks, user_key

from . import hookspecs, tables

MINUTES_PER_HOUR = 60


class Values:
    """``read(channel, condition, users)`` → user key → current value."""

    def __init__(self, ctx: PluginContext[Any]) -> None:
        self.ctx = ctx
        self.emotes: dict[tuple[str, str], set[str]] = {}
        """(channel, user key) → the emotes stored for them (loaded on first need)."""

    async def read(self, channel: str, condition: str,
                   users: Mapping[str, str]) -> dict[str, int]:
        """The values of ``users`` (key → display name); users without one read 0."""
        names = list(users.values())
        ledger = self.ctx.ledger
        found: Mapping[str, int]
        if condition == "lifetime_messages":
            found = await ledger.counter_totals(channel, "messages_sent", names)
        elif condition == "lifetime_presence_hours":
            minutes = await ledger.counter_totals(channel, "minutes_present", names)
            found = {k: v // MINUTES_PER_HOUR for k, v in minutes.items()}
        elif condition in ("lifetime_earned", "lifetime_spent", "lifetime_gambled"):
            column = {"lifetime_gambled": "gambled_in"}.get(condition, condition)
            accounts = await ledger.accounts(channel, names)
            found = {k: int(getattr(a, column)) for k, a in accounts.items()}
        elif condition in ("unique_tip_recipients", "unique_tip_senders"):
            outgoing = condition == "unique_tip_recipients"
            found = {k: await ledger.counterparties(channel, n, Kind.TRANSFER,
                                                    outgoing=outgoing)
                     for k, n in users.items()}
        elif condition == "unique_emotes_used_lifetime":
            found = {k: len(await self.emotes_of(channel, k)) for k in users}
        else:  # only another plugin knows it
            found = {}
            for key, name in users.items():
                value = await self.ctx.hooks.first(
                    hookspecs.economy_achievement_value, channel=channel, username=name,
                    condition=condition)
                if isinstance(value, int) and not isinstance(value, bool):
                    found[key] = value
        return {key: int(found.get(key, 0)) for key in users}

    # -- emotes ---------------------------------------------------------------------------------

    async def emotes_of(self, channel: str, key: str) -> set[str]:
        """The emotes stored for a user (read once, then kept)."""
        known = self.emotes.get((channel, key))
        if known is None:
            e = tables.emotes
            async with self.ctx.db.connect() as conn:
                result = await conn.execute(sa.select(e.c.emote).where(
                    e.c.channel == channel, e.c.user_key == key))
                known = {row.emote for row in result}
            self.emotes[(channel, key)] = known
        return known

    async def add_emotes(self, channel: str, used: Mapping[str, Iterable[str]]) -> None:
        """Store emotes users wrote (user key → emotes) that are not stored yet."""
        rows = []
        for key, emotes in used.items():
            known = await self.emotes_of(channel, key)
            rows += [{"channel": channel, "user_key": key, "emote": e[:100]}
                     for e in sorted(set(emotes) - known)]
        if not rows:
            return
        async with self.ctx.db.begin() as conn:
            for part in chunks(rows):
                await conn.execute(tables.emotes.insert(), list(part))
        for row in rows:
            self.emotes[(channel, row["user_key"])].add(row["emote"])


def keyed(names: Iterable[str]) -> dict[str, str]:
    """User key → display name."""
    return {user_key(n): n for n in names}
