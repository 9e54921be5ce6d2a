"""Hooks the achievements plugin publishes (through its ``economy_addhooks``).

Implement them with ``@hookimpl(optionalhook=True)``: with achievements switched off nothing
asks for them, and start-up does not complain about them.
"""

from __future__ import annotations

from economy_core import hookspec


@hookspec
def economy_achievement_value(channel: str, username: str, condition: str) -> int | None:
    """Async first. The user's current value of an achievement condition type that only the
    answering plugin knows (SPEC §3.11 names: ``daily_streak`` — the streak in days,
    ``rank_reached`` — the tier index, ``gambling_biggest_win`` — the biggest net win of one
    game); None for a type that is not yours. Read-only."""
