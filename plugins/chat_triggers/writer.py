"""The write side of the pipeline: group-committed, in line order.

The pipeline decides everything a line earns in memory and hands the writer a :class:`Job`
(hits and daily counters); the chat hook returns at once, so lines arriving faster than the
database commits pile up here and are written together, one batch at a time, in arrival order:

1. every cap of every hit is taken from the ledger's cap store (the takes are submitted together,
   so the ledger runs them as one commit group); a hit with an exhausted cap pays and counts
   nothing, and the caps it did take are given back;
2. the surviving hits go through the award pipeline (multipliers, fractional accumulators);
3. ONE ledger transaction credits them all, adds the daily counters and the trigger analytics.

Guarantees: a hit is paid at most once and never beyond its caps (a cap is taken before the credit
that needs it; a crash between the two loses the payment, never doubles it); a failed batch moves
no money (its callers get the error); :meth:`Writer.drain` returns once everything queued is
committed (shutdown calls it, so a clean stop loses no line). Memory is bounded: when
:data:`MAX_PENDING` jobs wait, the producer waits for the writer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import attrs

from economy_core.context import PluginContext
from economy_core.events import user_key
from economy_core.ledger import Award, LedgerTx
from economy_core.triggers import TriggerHit

from . import analytics

MAX_BATCH = 2000
"""Jobs written in one batch at most."""
MAX_PENDING = 20_000
"""Jobs that may wait before the chat hook itself waits for the writer."""

Outcome = int | None
"""What one hit got: the whole amount credited (0 while a fraction accumulates), or None when a
cap was exhausted or the onboarding minimums withheld it."""


@attrs.define(eq=False)
class Job:
    """One line's (or one event's) writes."""

    channel: str
    day: date
    hits: Sequence[TriggerHit]
    counters: Sequence[tuple[str, str, int]] = ()
    """(username, counter, increment) daily counters, independent of the hits."""
    future: asyncio.Future[list[Outcome]] | None = None


class Writer:
    """Writes jobs in batches on its own task; see the module docstring."""

    def __init__(self, ctx: PluginContext[Any],
                 on_paid: Callable[[str, int], None] | None = None) -> None:
        self.ctx = ctx
        self.log = ctx.log
        self._on_paid = on_paid
        self._queue: deque[Job] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._room = asyncio.Event()
        self._room.set()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.failed_batches = 0
        self.jobs_written = 0
        """Jobs committed so far (for tests and benchmarks that watch progress)."""

    # -- life cycle --

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"{self.ctx.name}-writer")

    async def stop(self) -> None:
        """Write everything queued, then stop."""
        await self.drain()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def drain(self) -> None:
        """Return once every job queued so far is committed (or has failed)."""
        while not self._idle.is_set():
            if self._task is None or self._task.done():
                return
            await self._idle.wait()

    @property
    def pending(self) -> int:
        return len(self._queue)

    # -- producing --

    async def put(self, job: Job) -> None:
        """Queue a job (waits only while :data:`MAX_PENDING` jobs are waiting)."""
        while len(self._queue) >= MAX_PENDING and self._task is not None:
            self._room.clear()
            await self._room.wait()
        self._queue.append(job)
        self._idle.clear()
        self._wake.set()

    async def run(self, job: Job) -> list[Outcome]:
        """Queue a job and wait for what each of its hits got."""
        job.future = asyncio.get_running_loop().create_future()
        await self.put(job)
        return await job.future

    # -- the loop --

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                n = min(len(self._queue), MAX_BATCH)
                batch = [self._queue.popleft() for _ in range(n)]
                self._room.set()
                try:
                    await self._flush(batch)
                except Exception as exc:
                    self.failed_batches += 1
                    self.log.exception("writing %d chat job(s) failed; their pay is lost",
                                       len(batch))
                    for job in batch:
                        if job.future is not None and not job.future.done():
                            job.future.set_exception(exc)
            self._idle.set()

    async def _take_caps(self, batch: Sequence[Job]) -> set[tuple[int, int]]:
        """Take every cap of every hit; returns (job, hit) indexes whose caps were refused."""
        ledger = self.ctx.ledger
        owners: list[tuple[int, int, Any]] = []
        calls = []
        for ji, job in enumerate(batch):
            for hi, hit in enumerate(job.hits):
                for cap in hit.caps:
                    owners.append((ji, hi, cap))
                    calls.append(ledger.take_cap(job.channel, hit.username,
                                                 cap.key(hit.trigger_id), cap.max_count,
                                                 cap.window))
        if not calls:
            return set()
        taken = await asyncio.gather(*calls, return_exceptions=True)
        refused: set[tuple[int, int]] = set()
        granted: dict[tuple[int, int], list[Any]] = {}
        for (ji, hi, cap), ok in zip(owners, taken, strict=True):
            if ok is True:
                granted.setdefault((ji, hi), []).append(cap)
            else:
                refused.add((ji, hi))
                if isinstance(ok, BaseException):
                    self.log.error("taking cap %s failed: %r", cap, ok)
        give_back = [ledger.return_cap(batch[ji].channel, batch[ji].hits[hi].username,
                                       cap.key(batch[ji].hits[hi].trigger_id))
                     for (ji, hi) in refused for cap in granted.get((ji, hi), [])]
        if give_back:
            await asyncio.gather(*give_back, return_exceptions=True)
        return refused

    async def _flush(self, batch: list[Job]) -> None:
        refused = await self._take_caps(batch)
        awards: dict[str, list[Award]] = {}
        owners: dict[str, list[tuple[int, int]]] = {}
        quoted: dict[tuple[int, int], int] = {}
        counters: dict[tuple[str, date, str], list[str]] = {}
        tallies: dict[analytics.Key, analytics.Tally] = {}
        awards_api = self.ctx.awards

        def count(channel: str, day: date, name: str, counter: str, by: int) -> None:
            counters.setdefault((channel, day, counter), []).extend([name] * by)

        for ji, job in enumerate(batch):
            for name, counter, by in job.counters:
                count(job.channel, job.day, name, counter, by)
            for hi, hit in enumerate(job.hits):
                if (ji, hi) in refused:
                    continue
                for counter, by in hit.counters.items():
                    count(job.channel, job.day, hit.username, counter, by)
                if hit.related_user is not None:
                    for counter, by in hit.related_counters.items():
                        count(job.channel, job.day, hit.related_user, counter, by)
                tally = tallies.setdefault((job.channel, hit.trigger_id, job.day),
                                           analytics.Tally())
                tally.hits += 1
                tally.users.add(user_key(hit.username))
                quoted[(ji, hi)] = 0
                if hit.amount <= 0:
                    continue
                _, quote = await awards_api.quote_many(
                    job.channel, [(hit.username, hit.amount)], trigger_id=hit.trigger_id,
                    reason=hit.reason, related_user=hit.related_user)
                for award in quote:
                    awards.setdefault(job.channel, []).append(award)
                    owners.setdefault(job.channel, []).append((ji, hi))
                    quoted[(ji, hi)] = award.amount

        async def write(tx: LedgerTx) -> set[tuple[int, int]]:
            withheld: set[tuple[int, int]] = set()
            for channel, items in awards.items():
                result = await tx.credit_many(channel, items)
                paid_users = {p.user_key for p in result.postings}
                for award, (ji, hi) in zip(items, owners[channel], strict=True):
                    if user_key(award.username) in paid_users:
                        job = batch[ji]
                        tallies[(job.channel, award.trigger_id or "", job.day)].z \
                            += award.amount
                    else:
                        withheld.add((ji, hi))
            for (channel, day, counter), names in counters.items():
                await tx.bump_daily_many(channel, day, counter, names)
            await analytics.record(tx.conn, tallies)
            return withheld

        withheld = await self.ctx.ledger.atomic(write) if (awards or counters or tallies) \
            else set()
        self.batches += 1
        self.jobs_written += len(batch)
        for ji, job in enumerate(batch):
            outcomes: list[Outcome] = []
            for hi, hit in enumerate(job.hits):
                if (ji, hi) in refused or (ji, hi) in withheld:
                    outcomes.append(None)
                    continue
                outcomes.append(quoted.get((ji, hi), 0))
                if self._on_paid is not None:
                    self._on_paid(hit.trigger_id, quoted.get((ji, hi), 0))
            if job.future is not None and not job.future.done():
                job.future.set_result(outcomes)
