"""Public promotion lines: the gate (SPEC §3.10: at most one an hour per channel unless a higher
tier than today's best; simultaneous promotions merged into one line) and the one function every
public line of this plugin goes through.

The gate is claimed in the transaction that stores the promotions it announces
(:func:`claim_line`), so a restart or a crash at any commit never announces a promotion twice:
either the promotions and the claim committed (and the line is queued after the commit, at most
once), or neither did.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import attrs
import sqlalchemy as sa

from economy_core import Announcement, PluginConnection, PluginContext

from . import tables

SUMMARY = "rank-ups"
"""What folded public lines are called ("…and 3 more rank-ups")."""
MAX_NAMES = 8
"""Promotions named in one merged line; the rest are counted."""


ANNOUNCEMENT = Announcement("rank_promotion", "users reach a new rank (merged, gated)", SUMMARY)
"""The kind of public line this plugin posts (declared in its contract; SPEC §2.6's gate)."""


@attrs.frozen
class Line:
    """A public line before rendering: its template, values, and which values are users."""

    template: str
    fallback: str
    values: dict[str, Any]
    people: tuple[str, ...] = ()


async def say(ctx: PluginContext[Any], channel: str, line: Line) -> None:
    """Every public line of the ranks plugin goes out here, through the announcer."""
    await ctx.announcer.announce(channel, ANNOUNCEMENT.kind, line.template,
                                 people=line.people, fallback=line.fallback, **line.values)


def may_announce(last_at: datetime | None, day: date | None, best: int, *, now: datetime,
                 today: date, top: int, interval: timedelta) -> bool:
    """Whether a line for promotions up to tier ``top`` may go out now: none claimed yet, the
    last one ``interval`` ago or longer, or ``top`` above today's highest announced tier."""
    if last_at is None:
        return True
    best_today = best if day == today else -1
    return now - last_at >= interval or top > best_today


async def claim_line(conn: PluginConnection, channel: str, top: int, *, now: datetime,
                     today: date, interval: timedelta) -> bool:
    """Claim the channel's promotion line for tier ``top`` (inside the promotions'
    transaction); False when the gate is closed."""
    a = tables.announcements
    row = (await conn.execute(sa.select(a).where(a.c.channel == channel))).first()
    if row is None:
        await conn.execute(a.insert().values(channel=channel, last_at=now, day=today, best=top))
        return True
    if not may_announce(row.last_at, row.day, int(row.best), now=now, today=today, top=top,
                        interval=interval):
        return False
    best = max(top, int(row.best)) if row.day == today else top
    await conn.execute(a.update().where(a.c.channel == channel)
                       .values(last_at=now, day=today, best=best))
    return True


def line(single: str, many: str, promotions: Sequence[tuple[str, str]]) -> Line:
    """The public line for (user, rank name) promotions, highest first as given: one
    promotion names its user (shown with a title), several are listed in one line."""
    if len(promotions) == 1:
        user, rank = promotions[0]
        return Line(single, f"🎬 {user} is now {rank}!", {"user": user, "rank": rank},
                    ("user",))
    named = [f"{user} → {rank}" for user, rank in promotions[:MAX_NAMES]]
    rest = len(promotions) - len(named)
    text = ", ".join(named) + (f" and {rest} more" if rest > 0 else "")
    return Line(many, f"🎬 Promotions: {text}!", {"promotions": text,
                                                   "count": len(promotions)})
