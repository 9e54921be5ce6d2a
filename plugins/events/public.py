"""The one way this plugin speaks in public chat: through the core's announcer (gates,
display names, duplicates, coalescing, the room's chat budget)."""

from __future__ import annotations

from typing import Any

from economy_core import Announcement, PluginContext

STARTED = "event_started"
ENDED = "event_ended"
SWITCHED = "event_multiplier"
ANNOUNCEMENTS = (
    Announcement(STARTED, "a scheduled or admin-started event begins", "event notices"),
    Announcement(ENDED, "an event ends or is stopped", "event notices"),
    Announcement(SWITCHED, "an off-peak or holiday multiplier switches on or off",
                 "event notices"),
)
"""The kinds of public line this plugin posts (declared in its contract)."""


async def say(ctx: PluginContext[Any], channel: str, kind: str, template: str, *,
              people: tuple[str, ...] = (), fallback: str | None = None, **values: Any) -> bool:
    """Post one public line of ``kind`` (``people``: the placeholders holding user names, shown
    as display names); False when switched off, a duplicate, or the template failed."""
    return await ctx.announcer.announce(channel, kind, template, people=people,
                                        fallback=fallback, **values)
