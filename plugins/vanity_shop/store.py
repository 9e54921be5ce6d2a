"""What users own, kept in ``vanity_shop_items`` and mirrored in memory for the hot reads.

Announcements ask the display-name hook for every ``{user}``, so titles (and greetings, chat
colours, currency names) are served from memory: loaded at start-up, updated after the
transaction that stored a purchase commits. Channel GIFs are read from the table when needed
(an approval may store one through the core's ``approve`` command, which the cache never sees).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from economy_core import PluginContext, user_key

from . import tables

CACHED = ("greeting", "title", "color", "rename")
"""Items mirrored in memory."""

t = tables.items


async def put(conn: Any, channel: str, username: str, item: str, value: str, price: int,
              at: datetime) -> None:
    """Inside the charging transaction: ``username`` owns ``item`` = ``value`` (a rebuy replaces
    the old row)."""
    key = user_key(username)
    await conn.execute(t.delete().where(t.c.channel == channel, t.c.user_key == key,
                                        t.c.item == item))
    await conn.execute(t.insert().values(channel=channel, user_key=key, item=item,
                                         username=username, value=value, price=price,
                                         updated_at=at))


class Owned:
    """The in-memory mirror of owned items (see the module docstring)."""

    def __init__(self, ctx: PluginContext[Any]) -> None:
        self._ctx = ctx
        self._cache: dict[tuple[str, str], dict[str, str]] = {}

    async def load(self) -> None:
        """Read every cached item from the table (start-up)."""
        async with self._ctx.db.connect() as conn:
            rows = (await conn.execute(sa.select(t.c.channel, t.c.user_key, t.c.item, t.c.value)
                                       .where(t.c.item.in_(CACHED)))).all()
        self._cache = {}
        for row in rows:
            self._cache.setdefault((row.channel, row.user_key), {})[row.item] = row.value

    def get(self, channel: str, username: str, item: str) -> str | None:
        return self._cache.get((channel, user_key(username)), {}).get(item)

    def remember(self, channel: str, username: str, item: str, value: str) -> None:
        """After the purchase committed."""
        if item in CACHED:
            self._cache.setdefault((channel, user_key(username)), {})[item] = value

    async def everything(self, channel: str, username: str) -> dict[str, str]:
        """Every item the user owns, from the table (item → value)."""
        async with self._ctx.db.connect() as conn:
            rows = (await conn.execute(sa.select(t.c.item, t.c.value).where(
                t.c.channel == channel, t.c.user_key == user_key(username)))).all()
        return {row.item: row.value for row in rows}
