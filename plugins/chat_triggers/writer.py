"""The write side of the pipeline: group-committed, in line order.

The pipeline decides everything a line earns in memory and hands the writer a :class:`Job`
(hits and daily counters); the chat hook returns at once, so lines arriving faster than the
database commits pile up here and are written together, one batch at a time, in arrival order:

1. every cap of every hit is taken from the ledger's cap store (the takes are submitted together,
   so the ledger runs them as one commit group); a hit with an exhausted cap pays and counts
   nothing, and the caps it did take are given back;
2. the surviving hits go through the award pipeline (multipliers, fractional accumulators);
3. ONE ledger transaction credits them all, adds the daily counters, the trigger analytics of
   the hits that paid (a base amount above 0, not withheld by the onboarding minimums) and the
   senders' ``last_active`` (one UPSERT for the batch).

Guarantees: a hit is paid at most once and never beyond its caps (a cap is taken before the credit
that needs it; a crash between the two loses the payment, never doubles it); a failed batch moves
no money (its callers get the error), gives its caps back and undoes its jobs' in-memory claims
(``Job.on_failure``), so it does not use up the day's allowance; :meth:`Writer.drain` returns
once everything queued is committed (shutdown calls it, so a clean stop loses no line). Memory
is bounded: when :data:`MAX_PENDING` jobs wait, the producer waits for the writer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import attrs

from economy_core import Award, Cap, LedgerTx, PluginContext, TriggerHit, user_key

from . import activity, analytics

MAX_BATCH = 2000
"""Jobs written in one batch at most."""
MAX_PENDING = 20_000
"""Jobs that may wait before the chat hook itself waits for the writer."""

Outcome = int | None
"""What one hit got: the whole amount credited (0 while a fraction accumulates), or None when a
cap was exhausted or the onboarding minimums withheld it."""


HitIndex = tuple[int, int]
"""(job, hit) indexes within a batch."""

EARN_TYPE = "earn"
"""The ledger type of every chat trigger award (``Awards.quote_many``'s default)."""


@attrs.define(eq=False)
class Job:
    """One line's (or one event's) writes."""

    channel: str
    day: date
    hits: Sequence[TriggerHit]
    counters: Sequence[tuple[str, str, int]] = ()
    """(username, counter, increment) daily counters, independent of the hits."""
    active: tuple[str, datetime] | None = None
    """(sender, time) of a chat line: the sender's ``last_active``."""
    on_failure: Callable[[], None] | None = None
    """Called when the job's batch fails to commit (undo in-memory claims it made)."""
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

    async def _take_caps(self, batch: Sequence[Job]
                         ) -> tuple[set[HitIndex], dict[HitIndex, list[Cap]]]:
        """Take every cap of every hit. Returns the (job, hit) indexes whose caps were refused
        (what they did take is given back at once) and, for the others, the caps they hold."""
        ledger = self.ctx.ledger
        owners: list[tuple[int, int, Cap]] = []
        calls = []
        for ji, job in enumerate(batch):
            for hi, hit in enumerate(job.hits):
                for cap in hit.caps:
                    owners.append((ji, hi, cap))
                    calls.append(ledger.take_cap(job.channel, hit.username,
                                                 cap.key(hit.trigger_id), cap.max_count,
                                                 cap.window))
        if not calls:
            return set(), {}
        taken = await asyncio.gather(*calls, return_exceptions=True)
        refused: set[HitIndex] = set()
        granted: dict[HitIndex, list[Cap]] = {}
        for (ji, hi, cap), ok in zip(owners, taken, strict=True):
            if ok is True:
                granted.setdefault((ji, hi), []).append(cap)
            else:
                refused.add((ji, hi))
                if isinstance(ok, BaseException):
                    self.log.error("taking cap %s failed: %r", cap, ok)
        await self._give_back(batch, {i: granted.pop(i) for i in refused if i in granted})
        return refused, granted

    async def _give_back(self, batch: Sequence[Job], held: dict[HitIndex, list[Cap]]) -> None:
        """Return the caps ``held`` by hits that will not be paid."""
        ledger = self.ctx.ledger
        calls = [ledger.return_cap(batch[ji].channel, batch[ji].hits[hi].username,
                                   cap.key(batch[ji].hits[hi].trigger_id))
                 for (ji, hi), caps in held.items() for cap in caps]
        if not calls:
            return
        for result in await asyncio.gather(*calls, return_exceptions=True):
            if isinstance(result, BaseException):
                self.log.error("giving a cap back failed: %r", result)

    async def _flush(self, batch: list[Job]) -> None:
        refused, granted = await self._take_caps(batch)
        try:
            quoted, withheld = await self._write(batch, refused)
        except Exception:
            # nothing was paid: the caps and the first-of-day claims were not used up
            await self._give_back(batch, granted)
            for job in batch:
                if job.on_failure is not None:
                    try:
                        job.on_failure()
                    except Exception:
                        self.log.exception("undoing a failed chat job failed")
            raise
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

    async def _withheld(self, channel: str, names: set[str]) -> set[str]:
        """The user keys among ``names`` whose earnings the onboarding minimums withhold now
        (asked only for hits whose pay is still a fraction: no posting shows it)."""
        onboarding = self.ctx.core.onboarding
        if not names or not onboarding.active or EARN_TYPE in onboarding.exempt_types:
            return set()
        members = self.ctx.members
        return {user_key(n) for n in sorted(names)
                if not (await members.standing(channel, n)).may_earn}

    async def _write(self, batch: list[Job], refused: set[HitIndex]
                     ) -> tuple[dict[HitIndex, int], set[HitIndex]]:
        """Quote and commit the batch (steps 2 and 3). Returns what each hit past its caps was
        credited (0 while a fraction accumulates) and the hits the onboarding gate withheld."""
        awards: dict[str, list[Award]] = {}
        owners: dict[str, list[HitIndex]] = {}
        quoted: dict[HitIndex, int] = {}
        fractions: dict[str, set[str]] = {}
        """Per channel, who has a paying hit that credited only a fraction so far."""
        counters: dict[tuple[str, date, str], list[str]] = {}
        lines: list[tuple[str, str, datetime]] = []
        awards_api = self.ctx.awards

        def count(channel: str, day: date, name: str, counter: str, by: int) -> None:
            counters.setdefault((channel, day, counter), []).extend([name] * by)

        for ji, job in enumerate(batch):
            if job.active is not None:
                lines.append((job.channel, *job.active))
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
                quoted[(ji, hi)] = 0
                if hit.amount <= 0:
                    continue
                _, quote = await awards_api.quote_many(
                    job.channel, [(hit.username, hit.amount)], trigger_id=hit.trigger_id,
                    reason=hit.reason, related_user=hit.related_user)
                if not quote:
                    fractions.setdefault(job.channel, set()).add(hit.username)
                for award in quote:
                    awards.setdefault(job.channel, []).append(award)
                    owners.setdefault(job.channel, []).append((ji, hi))
                    quoted[(ji, hi)] = award.amount
        not_earning = {c: await self._withheld(c, names) for c, names in fractions.items()}

        async def write(tx: LedgerTx) -> set[HitIndex]:
            withheld: set[HitIndex] = set()
            for channel, items in awards.items():
                result = await tx.credit_many(channel, items)
                paid_users = {p.user_key for p in result.postings}
                for award, index in zip(items, owners[channel], strict=True):
                    if user_key(award.username) not in paid_users:
                        withheld.add(index)
            for (channel, day, counter), names in counters.items():
                await tx.bump_daily_many(channel, day, counter, names)
            tallies = self._tallies(batch, quoted, withheld, not_earning)
            await analytics.record(tx.conn, tallies)
            await activity.record(tx.conn, lines)
            return withheld

        withheld = await self.ctx.ledger.atomic(write) if (quoted or counters or lines) \
            else set()
        return quoted, withheld

    @staticmethod
    def _tallies(batch: Sequence[Job], quoted: dict[HitIndex, int], withheld: set[HitIndex],
                 not_earning: dict[str, set[str]]) -> dict[analytics.Key, analytics.Tally]:
        """The analytics of the hits that paid: past their caps, a base amount above 0, and not
        withheld by the onboarding minimums (a counting-only hit is no trigger hit)."""
        tallies: dict[analytics.Key, analytics.Tally] = {}
        for (ji, hi), whole in quoted.items():
            job = batch[ji]
            hit = job.hits[hi]
            key = user_key(hit.username)
            if hit.amount <= 0 or (ji, hi) in withheld \
                    or (whole == 0 and key in not_earning.get(job.channel, ())):
                continue
            tally = tallies.setdefault((job.channel, hit.trigger_id, job.day), analytics.Tally())
            tally.hits += 1
            tally.users.add(key)
            tally.z += whole
        return tallies
