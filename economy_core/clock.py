"""The core's sense of time: one injectable clock for every plugin, job and timestamp.

``SystemClock`` follows the wall clock, optionally sped up (``time_scale=60`` makes one real
second one simulated minute). ``FakeClock`` stands still until a test calls ``advance()``, which
walks time forward job by job and runs every scheduler job that falls due on the way, inline.

Every ``now()`` is an aware UTC datetime. The channel's local day (for daily jobs, daily caps and
"today") comes from :meth:`Clock.local_date` with the configured timezone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol


class Clock(Protocol):
    """What the core and plugins may ask of time."""

    def now(self) -> datetime:
        """The current instant, an aware UTC datetime."""
        ...

    def local_date(self, tz: tzinfo) -> date:
        """Today's date in the given timezone."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of clock time (simulated seconds under a time scale)."""
        ...


class SystemClock:
    """The wall clock, optionally sped up by ``time_scale`` from the moment it was made.

    ``start`` sets the simulated instant at that moment (default: the real time); black-box tests
    use it to begin just before a day boundary."""

    def __init__(self, time_scale: float = 1.0, *, start: datetime | None = None) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.time_scale = time_scale
        self._origin_wall = start if start is not None else datetime.now(UTC)
        self._origin_mono = time.monotonic()

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._origin_mono) * self.time_scale
        return self._origin_wall + timedelta(seconds=elapsed)

    def local_date(self, tz: tzinfo) -> date:
        return self.now().astimezone(tz).date()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.time_scale)


DueRunner = Callable[[], Awaitable[object]]
"""Runs every job due at the clock's current instant (a scheduler's ``run_due``)."""

NextDue = Callable[[], datetime | None]
"""The instant a scheduler's next job falls due, or None when it has none."""


class FakeClock:
    """A clock for tests: time moves only when ``advance()`` (or ``set()``) is awaited.

    Schedulers attach themselves with :meth:`attach`; ``advance`` then stops at each instant a job
    falls due, runs the due jobs inline (awaiting them), and carries on to the target time. Nothing
    sleeps: ``sleep()`` advances the clock itself.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 3, 3, 20, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._schedulers: list[tuple[NextDue, DueRunner]] = []

    def attach(self, next_due: NextDue, run_due: DueRunner) -> None:
        """Let ``advance`` stop at this scheduler's due instants and run its jobs."""
        self._schedulers.append((next_due, run_due))

    def detach(self, run_due: DueRunner) -> None:
        self._schedulers = [s for s in self._schedulers if s[1] != run_due]

    def now(self) -> datetime:
        return self._now

    def local_date(self, tz: tzinfo) -> date:
        return self._now.astimezone(tz).date()

    async def sleep(self, seconds: float) -> None:
        await self.advance(seconds)

    async def advance(self, seconds: float = 0.0, *, minutes: float = 0.0, hours: float = 0.0,
                      days: float = 0.0) -> None:
        """Move time forward, running every job that falls due on the way, in time order."""
        delta = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        if delta < timedelta(0):
            raise ValueError("time does not run backwards")
        await self.set(self._now + delta)

    async def set(self, target: datetime) -> None:
        """Move time forward to ``target`` (aware), running due jobs on the way."""
        target = target.astimezone(UTC)
        if target < self._now:
            raise ValueError("time does not run backwards")
        while True:
            due_times = [d for d in (nd() for nd, _ in self._schedulers) if d is not None]
            upcoming = min((d for d in due_times if d <= target), default=None)
            if upcoming is None:
                break
            self._now = max(self._now, upcoming)
            for _, run_due in list(self._schedulers):
                await run_due()
        self._now = target
        for _, run_due in list(self._schedulers):
            await run_due()
