"""``last_active`` (SPEC §3.3, §4): when each user last sent a chat line, per channel.

Written by the writer inside the ledger transaction of each batch, as one multi-row UPSERT
however many lines the batch holds (the newest line per user wins; a row never moves back in
time). Read by the ``profile`` field.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from economy_core import UtcDateTime, user_key

from . import tables

_UPSERT = sa.text(
    "INSERT INTO chat_triggers_last_active (channel, user_key, username, at) "
    "VALUES (:channel, :user_key, :username, :at) "
    "ON CONFLICT (channel, user_key) DO UPDATE SET "
    "username = excluded.username, at = excluded.at "
    "WHERE excluded.at >= chat_triggers_last_active.at"
).bindparams(sa.bindparam("at", type_=UtcDateTime))


def newest(lines: Iterable[tuple[str, str, datetime]]) -> list[dict[str, Any]]:
    """The rows to write for (channel, username, at) lines: the newest per (channel, user)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for channel, username, at in lines:
        key = (channel, user_key(username))
        row = rows.get(key)
        if row is None or at >= row["at"]:
            rows[key] = {"channel": channel, "user_key": key[1], "username": username, "at": at}
    return list(rows.values())


async def record(conn: Any, lines: Iterable[tuple[str, str, datetime]]) -> None:
    """Note the lines' times; ``conn`` is the ledger transaction's connection."""
    rows = newest(lines)
    if rows:
        await conn.execute(_UPSERT, rows)


async def last_line_at(conn: Any, channel: str, username: str) -> datetime | None:
    """When ``username`` last chatted in ``channel`` (None: never, as far as we know)."""
    t = tables.last_active
    found = await conn.execute(sa.select(t.c.at).where(t.c.channel == channel,
                                                       t.c.user_key == user_key(username)))
    at: datetime | None = found.scalar_one_or_none()
    return at


def ago(elapsed: timedelta) -> str:
    """``elapsed`` in words: "just now", "5 min ago", "3 h ago", "2 days ago"."""
    seconds = int(elapsed.total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86_400:
        return f"{seconds // 3600} h ago"
    days = seconds // 86_400
    return f"{days} day ago" if days == 1 else f"{days} days ago"
