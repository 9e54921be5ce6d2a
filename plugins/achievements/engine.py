"""Deciding when to check whom, and checking.

Events only say *who may have moved* (the hooks in :mod:`.plugin` call :meth:`Engine.bump`
or :meth:`Engine.due`); nothing is read on the event's own path. For a growing figure the engine
keeps an **estimate** per user and condition type: the value last read plus what events added
since (a chat line adds 1 line, an earn posting its amount). A user is read only when their
estimate reaches the lowest threshold they have not earned yet, or when none is known. The
**worker** (one task) reads the committed values of the due users in batches
(:class:`~.values.Values`), pays what they earned (:mod:`.award`) and resets the estimates to what
it read. A read may miss the owner's writes still in flight (chat counters are written in
batches), so a first read of a chat figure, and any read below its estimate, is repeated on the
next pass (:meth:`Engine.recheck`, every :data:`RECHECK_SECONDS` and at ``settle``) until the two
agree: an estimate never stays short, and a threshold is never missed.

A user's earned set is kept in memory (loaded at start), so the estimate's threshold needs no
read either.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import attrs
import sqlalchemy as sa

from economy_core import Catalogue, PluginContext, user_key

from . import award, tables
from .conditions import TYPES
from .config import Achievement, AchievementsConfig
from .values import Values

RECHECK_SECONDS = 10
PRESENCE = "lifetime_presence_hours"
MESSAGES = "lifetime_messages"
EMOTES = "unique_emotes_used_lifetime"
ESTIMATED = frozenset({"lifetime_messages", "lifetime_earned", "lifetime_spent",
                       "lifetime_gambled"})
"""Condition types whose events say by how much they grew (kept as estimates)."""
Where = tuple[str, str]
"""(channel, user key)."""


@attrs.define
class Estimate:
    """A value last read plus what events added since (an upper bound of the value)."""

    base: int
    gained: int = 0

    @property
    def value(self) -> int:
        return self.base + self.gained


class Engine:
    """See the module docstring."""

    def __init__(self, ctx: PluginContext[AchievementsConfig]) -> None:
        self.ctx = ctx
        self.values = Values(ctx)
        self.earned: dict[Where, dict[str, datetime]] = {}
        """(channel, user key) → achievement id → when earned (loaded at start)."""
        self.estimates: dict[str, dict[Where, Estimate]] = {}
        self._due: dict[tuple[str, str], dict[str, tuple[str, int | None]]] = {}
        """(channel, condition) → user key → (display name, the value if an event told it)."""
        self._short: dict[tuple[str, str], dict[str, str]] = {}
        self._task: asyncio.Task[None] | None = None
        self.next_presence_check: dict[Where, datetime] = {}
        self._emotes: dict[Where, set[str]] = {}
        """Emotes users wrote that are not stored yet."""
        self._active: tuple[object, list[Achievement], frozenset[str]] = (None, [],
                                                                          frozenset())
        self.awarded = 0
        self._metric = ctx.metrics.counter("awarded_total", "Achievements earned, by id")

    @property
    def cfg(self) -> AchievementsConfig:
        return self.ctx.config

    # -- what is active -------------------------------------------------------------------------

    def active(self) -> list[Achievement]:
        """Enabled achievements whose condition can be known with the enabled plugins (worked
        out once per config)."""
        cfg = self.cfg
        if self._active[0] is not cfg:
            catalogue: Catalogue = self.ctx.catalogue
            found = [a for a in cfg.achievements
                     if a.enabled and TYPES[a.condition.type].missing(catalogue) is None]
            self._active = (cfg, found, frozenset(a.condition.type for a in found))
        return self._active[1]

    def in_use(self, condition: str) -> bool:
        """Whether an active achievement has this condition type."""
        self.active()
        return condition in self._active[2]

    def next_threshold(self, channel: str, key: str, condition: str) -> float:
        """The lowest threshold of ``condition`` the user has not earned (inf: none)."""
        done = self.earned.get((channel, key), {})
        return min((a.condition.threshold for a in self.active()
                    if a.condition.type == condition and a.id not in done), default=math.inf)

    async def load(self) -> None:
        e = tables.earned
        async with self.ctx.db.connect() as conn:
            result = await conn.execute(sa.select(e.c.channel, e.c.user_key, e.c.achievement,
                                                  e.c.at))
            for row in result:
                self.earned.setdefault((row.channel, row.user_key), {})[row.achievement] = row.at

    # -- noticing -------------------------------------------------------------------------------

    def bump(self, channel: str, key: str, name: str, condition: str, by: int) -> None:
        """An event added ``by`` to a user's figure: due when it may reach a threshold."""
        nxt = self.next_threshold(channel, key, condition)
        if nxt == math.inf:
            return
        estimate = self.estimates.setdefault(condition, {}).get((channel, key))
        if estimate is not None:
            estimate.gained += by
            if estimate.value < nxt:
                return
        self.due(channel, condition, key, name)

    def due(self, channel: str, condition: str, key: str, name: str,
            value: int | None = None) -> None:
        """Check the user's ``condition`` soon (``value``: what an event said it is now)."""
        self._due.setdefault((channel, condition), {})[key] = (name, value)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._work(), name=f"{self.ctx.name}-checks")

    def emotes_used(self, channel: str, key: str, name: str, emotes: set[str]) -> None:
        """A chat line with these channel emotes: due when one is new for the user."""
        known = self.values.emotes.get((channel, key))
        if known is not None and emotes <= known:
            return
        self._emotes.setdefault((channel, key), set()).update(emotes)
        self.due(channel, EMOTES, key, name)

    # -- checking -------------------------------------------------------------------------------

    async def drain(self) -> None:
        """Return once every check asked for so far is done."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def recheck(self) -> None:
        """Check again the users whose value read short of their estimate."""
        short, self._short = self._short, {}
        for (channel, condition), users in short.items():
            for key, name in users.items():
                self.due(channel, condition, key, name)
        await self.drain()

    async def _work(self) -> None:
        while self._due:
            batch, self._due = self._due, {}
            for (channel, condition), users in batch.items():
                try:
                    await self.check(channel, condition, users)
                except Exception:
                    self.ctx.log.exception("checking %s achievements in %s failed", condition,
                                           channel)

    async def check(self, channel: str, condition: str,
                    users: Mapping[str, tuple[str, int | None]]) -> list[award.Earned]:
        """Read (or take) the users' values, pay what they earned, tell it."""
        if condition == EMOTES:
            await self.values.add_emotes(channel, {k: self._emotes.pop((channel, k), set())
                                                   for k in users})
        told = {k: v for k, (_, v) in users.items() if v is not None}
        unknown = {k: name for k, (name, v) in users.items() if v is None}
        values = dict(told)
        if unknown:
            values.update(await self.values.read(channel, condition, unknown))
        winners: list[tuple[str, Achievement]] = []
        active = [a for a in self.active() if a.condition.type == condition]
        unsure = []
        for key, (name, _) in users.items():
            value = values.get(key, 0)
            if key in unknown and condition in ESTIMATED:
                estimates = self.estimates.setdefault(condition, {})
                before = estimates.get((channel, key))
                estimates[(channel, key)] = Estimate(value)
                # the owner's writes may be in flight: chat counters are written in batches
                # (committed postings are in what was read, but an estimate may count them twice)
                if (before.value > value if before is not None else condition == MESSAGES):
                    unsure.append((key, name, value))
            done = self.earned.get((channel, key), {})
            reached = [a for a in active if a.id not in done and value >= a.condition.threshold]
            winners += [(name, a) for a in sorted(reached, key=lambda a: a.condition.threshold)]
        earned = await award.pay(self.ctx, channel, winners)
        for e in earned:
            self.earned.setdefault((channel, user_key(e.username)), {})[e.achievement.id] = e.at
            self._metric.inc({"achievement": e.achievement.id})
        self.awarded += len(earned)
        for key, name, value in unsure:
            if value < self.next_threshold(channel, key, condition):
                self._short.setdefault((channel, condition), {})[key] = name
        if condition == PRESENCE:
            for key in unknown:
                self._presence_read(channel, key, values.get(key, 0))
        await award.tell(self.ctx, channel, earned)
        return earned

    # -- presence hours (checked on a timer: nothing announces a presence tick) -------------------

    def presence_due(self, channel: str, present: Mapping[str, str], now: datetime) -> None:
        """Present users whose presence hours may have reached a threshold. A minute present
        adds at most one minute, so a user read at h whole hours is not due again before
        (threshold − h) × 60 − 59 minutes passed."""
        for key, name in present.items():
            at = self.next_presence_check.get((channel, key))
            if at is None or now >= at:
                self.due(channel, PRESENCE, key, name)

    def _presence_read(self, channel: str, key: str, hours: int) -> None:
        nxt = self.next_threshold(channel, key, PRESENCE)
        if nxt == math.inf:
            self.next_presence_check[(channel, key)] = datetime.max.replace(tzinfo=UTC)
            return
        left = int((nxt - hours) * 60) - 59
        self.next_presence_check[(channel, key)] = (self.ctx.clock.now()
                                                     + timedelta(minutes=max(1, left)))
