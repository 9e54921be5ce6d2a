"""The one way this plugin speaks in public chat: through the core's announcer (gates,
display names, duplicates, coalescing, the room's chat budget)."""

from __future__ import annotations

from typing import Any

from economy_core import Announcement, PluginContext

CHAMPIONS = "daily_champion"
ANNOUNCEMENTS = (
    Announcement(CHAMPIONS, "the day's competition winners, one summary line",
                 "competition results"),
)
"""The kinds of public line this plugin posts (declared in its contract)."""


async def say(ctx: PluginContext[Any], channel: str, kind: str, template: str, *,
              people: tuple[str, ...] = (), fallback: str | None = None, **values: Any) -> bool:
    """Post one public line of ``kind`` (``people``: the placeholders holding user names, shown
    as display names); False when switched off, a duplicate, or the template failed."""
    return await ctx.announcer.announce(channel, kind, template, people=people,
                                        fallback=fallback, **values)
