"""Hooks the streaks plugin publishes (through its ``economy_addhooks``).

Implement them with ``@hookimpl(optionalhook=True)``: with streaks switched off they are never
called, and start-up does not complain about them.
"""

from __future__ import annotations

from economy_core import hookspec


@hookspec
def economy_streak_reached(channel: str, username: str, days: int) -> None:
    """Async broadcast, after the ledger transaction that qualified a day committed (while daily
    streaks are on): the user's streak is now ``days`` days in a row (1 starts a new one). Told
    once per qualifying day, never for a day a restart or a replay qualified before; a crash
    right after the commit may leave one day untold (the next one tells the longer streak)."""
