"""Clock-driven jobs: intervals (optionally jittered), daily at a local time, and 5-field cron.

Jobs are owned by a plugin (``owner``) so they can be cancelled together when it stops. A job's
failure is logged and counted through ``on_error`` and never stops the others; a failed job is still
rescheduled. Daily and cron jobs are read in the channel timezone given to the scheduler, so
"midnight" and "03:00" follow the operator's zone, DST included.

Time comes only from the injected clock. With a :class:`~economy_core.clock.FakeClock` the
scheduler attaches itself and ``clock.advance()`` runs due jobs inline; with a real clock
:meth:`Scheduler.start` runs a loop that sleeps (on the clock) until the next job is due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta, tzinfo

import attrs

from .clock import Clock, FakeClock
from .cron import CronSpec

JobFn = Callable[[], Awaitable[object]]
ErrorHandler = Callable[[str, str, BaseException], None]
"""Called with (owner, job name, exception) when a job raises."""


@attrs.define(eq=False)
class Job:
    """One scheduled job. ``next_due`` is an aware UTC instant; ``cancelled`` stops it for good."""

    name: str
    owner: str
    fn: JobFn
    next_fire: Callable[[datetime], datetime]
    next_due: datetime
    cancelled: bool = False
    runs: int = 0
    failures: int = 0

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    """Runs jobs when the clock says they are due; see the module docstring."""

    def __init__(self, clock: Clock, tz: tzinfo, *, on_error: ErrorHandler | None = None,
                 log: logging.Logger | None = None) -> None:
        self.clock = clock
        self.tz = tz
        self._jobs: list[Job] = []
        self._on_error = on_error
        self._log = log or logging.getLogger("economy_core.scheduler")
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._running_due = False
        if isinstance(clock, FakeClock):
            clock.attach(self.next_due, self.run_due)

    # -- registration -------------------------------------------------------------------------

    def every(self, seconds: float, fn: JobFn, *, name: str, owner: str,
              jitter: Callable[[], float] | None = None, first_in: float | None = None) -> Job:
        """Run ``fn`` every ``seconds`` (clock time). ``jitter()`` returns a factor applied to each
        interval (e.g. ``1 + U(-0.3, 0.3)``); ``first_in`` overrides the first delay."""
        if seconds <= 0:
            raise ValueError("interval must be > 0 seconds")

        def next_fire(after: datetime) -> datetime:
            factor = jitter() if jitter else 1.0
            return after + timedelta(seconds=max(1.0, seconds * factor))

        now = self.clock.now()
        first = now + timedelta(seconds=first_in) if first_in is not None else next_fire(now)
        return self._add(Job(name, owner, fn, next_fire, first))

    def once(self, delay_seconds: float, fn: JobFn, *, name: str, owner: str) -> Job:
        """Run ``fn`` once, ``delay_seconds`` of clock time from now (a delayed notice)."""
        job: Job

        async def run_and_cancel() -> None:
            job.cancel()
            await fn()

        def never_again(after: datetime) -> datetime:
            return after + timedelta(days=36500)

        due = self.clock.now() + timedelta(seconds=max(0.0, delay_seconds))
        job = self._add(Job(name, owner, run_and_cancel, never_again, due))
        return job

    def daily(self, at: time, fn: JobFn, *, name: str, owner: str) -> Job:
        """Run ``fn`` once a day at local time ``at`` in the scheduler's timezone."""
        return self.cron(f"{at.minute} {at.hour} * * *", fn, name=name, owner=owner)

    def cron(self, expression: str, fn: JobFn, *, name: str, owner: str) -> Job:
        """Run ``fn`` at every minute the 5-field cron ``expression`` matches (local time)."""
        spec = CronSpec.parse(expression)

        def next_fire(after: datetime) -> datetime:
            local = after.astimezone(self.tz)
            return spec.next_after(local).astimezone(after.tzinfo)

        return self._add(Job(name, owner, fn, next_fire, next_fire(self.clock.now())))

    def _add(self, job: Job) -> Job:
        self._jobs.append(job)
        self._wake.set()
        return job

    def cancel_owner(self, owner: str) -> None:
        """Cancel every job of one owner (a stopping plugin)."""
        for job in self._jobs:
            if job.owner == owner:
                job.cancel()
        self._jobs = [j for j in self._jobs if not j.cancelled]

    def jobs(self) -> list[Job]:
        return [j for j in self._jobs if not j.cancelled]

    # -- running ------------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        """The earliest instant any live job falls due, or None."""
        return min((j.next_due for j in self._jobs if not j.cancelled), default=None)

    async def run_due(self) -> int:
        """Run every job due at the clock's current instant, earliest first; returns how many ran.

        Each job is rescheduled strictly after now before it runs, so a failing or slow job never
        blocks the others or runs twice for one due instant.
        """
        if self._running_due:
            return 0
        self._running_due = True
        try:
            now = self.clock.now()
            due = sorted((j for j in self._jobs if not j.cancelled and j.next_due <= now),
                         key=lambda j: j.next_due)
            for job in due:
                nxt = job.next_fire(job.next_due)
                while nxt <= now:  # catch up without replaying missed runs one by one
                    nxt = job.next_fire(nxt)
                job.next_due = nxt
                await self._run_one(job)
            self._jobs = [j for j in self._jobs if not j.cancelled]
            return len(due)
        finally:
            self._running_due = False

    async def _run_one(self, job: Job) -> None:
        job.runs += 1
        try:
            await job.fn()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            job.failures += 1
            self._log.exception("job %s/%s failed", job.owner, job.name)
            if self._on_error is not None:
                self._on_error(job.owner, job.name, exc)

    async def start(self) -> None:
        """Start the background loop (real clocks only; a FakeClock drives jobs itself)."""
        if isinstance(self.clock, FakeClock) or self._loop_task is not None:
            return
        self._loop_task = asyncio.create_task(self._loop(), name="economy-scheduler")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            try:
                await self._loop_task
            except asyncio.CancelledError:
                pass
            self._loop_task = None
        if isinstance(self.clock, FakeClock):
            self.clock.detach(self.run_due)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            due = self.next_due()
            if due is not None:
                wait = (due - self.clock.now()).total_seconds()
                if wait <= 0:
                    await self.run_due()
                    continue
            sleeper = asyncio.ensure_future(
                self.clock.sleep(min(wait, 60.0)) if due is not None else asyncio.sleep(3600))
            waker = asyncio.ensure_future(self._wake.wait())
            _, pending = await asyncio.wait({sleeper, waker},
                                               return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
