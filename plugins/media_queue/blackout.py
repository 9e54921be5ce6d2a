"""Blackout windows (SPEC §3.7): queueing is closed from each fire of a window's cron for its
``duration_hours``, and already ``notice`` before a window starts.

Pure functions of the configured windows and an instant (in the channel's time zone, as the
crons are read), so the rules are tested without a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from economy_core import CronSpec

from .config import BlackoutWindow


@attrs.frozen
class Occurrence:
    """One window's fire: its name, start, end and its event's multiplier."""

    name: str
    start: datetime
    end: datetime
    multiplier: float

    def active(self, now: datetime) -> bool:
        return self.start <= now < self.end


def _duration(window: BlackoutWindow) -> timedelta:
    return timedelta(hours=window.duration_hours)


def current(windows: Sequence[BlackoutWindow], now: datetime) -> Occurrence | None:
    """The window active at ``now`` (the one ending last when several overlap), or None."""
    found: list[Occurrence] = []
    for window in windows:
        length = _duration(window)
        # the latest fire in (now - length, now]: the first fire after now - length
        start = CronSpec.parse(window.cron).next_after(now - length)
        if start <= now:
            found.append(Occurrence(window.name, start, start + length, window.multiplier))
    return max(found, key=lambda o: o.end) if found else None


def upcoming(windows: Sequence[BlackoutWindow], now: datetime) -> Occurrence | None:
    """The next window to start after ``now`` (None without windows)."""
    found = []
    for window in windows:
        start = CronSpec.parse(window.cron).next_after(now)
        found.append(Occurrence(window.name, start, start + _duration(window),
                                window.multiplier))
    return min(found, key=lambda o: o.start) if found else None


def closing(windows: Sequence[BlackoutWindow], now: datetime,
            notice: timedelta) -> Occurrence | None:
    """The window that closes queueing at ``now``: active, or starting within ``notice``."""
    active = current(windows, now)
    if active is not None:
        return active
    nxt = upcoming(windows, now)
    if nxt is not None and nxt.start - now <= notice:
        return nxt
    return None
