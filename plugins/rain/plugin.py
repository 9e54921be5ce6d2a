"""The rain plugin: now and then, everyone present gets a few coins (SPEC §3.4).

**When.** One scheduler job (``ctx.scheduler.every``, no sleep loop). Each wait is
``interval_minutes × (1 + U(−0.3, 0.3))`` and at least :data:`MIN_WAIT_SECONDS`; the jitter
callback sizes it from the live config, so a changed interval applies from the next wait on.
After a restart the schedule starts afresh (the first drop one jittered interval after start):
missed drops are never caught up.

**Who and how much.** Per channel and drop: the users present now (``ctx.rooms``), minus banned
users, the bot and ignored users. One integer ``A`` is drawn in ``[min_amount, max_amount]``;
each user gets ``max(1, round(A × factor))``, ``factor`` being the multiplier hook's combined
answer for trigger ``rain.ambient`` (event multipliers, a rank's rain perk). While onboarding
minimums are on, the ledger's earn gate withholds the shares of users who may not earn yet: they
get nothing, are not counted and get no PM. Nobody present → nothing happens, not even a draw;
nobody paid → no announcement.

**Order** (RELIABILITY 5): ONE ``credit_many`` (type ``rain``, kind EARN) pays everyone inside a
ledger transaction, and the public announcement — with the number of users that credit really
pays — is queued in that same transaction, before it commits (through the core's announcer, kind
``rain_drop``: a lone line of a kind goes out at once); after the commit each user
actually paid gets a paced PM through the outbox (quiet users are skipped there), so the
announcement always goes out first. The credit carries the idempotency key
``rain:<channel>:<drop instant>``, so a retried drop cannot pay (or announce) twice; a drop is
all or nothing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

import attrs

from economy_core import (
    Announcement,
    Award,
    Contract,
    Job,
    Kind,
    LedgerTx,
    PluginContext,
    PostingType,
    TxResult,
    hookimpl,
    render,
    user_key,
)

from .config import RainConfig

TRIGGER = "rain.ambient"
"""The trigger id of every rain posting (multiplier hooks see it)."""
POSTING_TYPE = "rain"
ANNOUNCEMENT = "rain_drop"
"""The announcement kind of the public line (the operator's switch: ``[announcements]``)."""
JITTER = 0.3
"""Each wait is the interval times a factor drawn uniformly from [1 − JITTER, 1 + JITTER]."""
MIN_WAIT_SECONDS = 60.0


@attrs.frozen
class RainDrop:
    """What one drop in one channel did: the drawn amount and who got how much."""

    channel: str
    base: int
    paid: Mapping[str, int]
    """User key → amount credited (users withheld by the ledger are absent)."""


class Rain:
    """Drops coins on everyone present; see the module docstring."""

    name = "rain"
    Config = RainConfig
    contract = Contract(posting_types=(PostingType(POSTING_TYPE, "rain", Kind.EARN),),
                        announcements=(Announcement(ANNOUNCEMENT, "a rain drop, before it is paid",
                                                    "rain drops"),))

    def __init__(self, ctx: PluginContext[RainConfig]) -> None:
        self.ctx = ctx
        self.random: random.Random = random.SystemRandom()
        """The random source of draws and waits (tests replace it with a scripted one)."""
        self.job: Job | None = None
        self.drops = 0
        """Drops that paid someone, since start (all channels)."""
        self._drops_metric = ctx.metrics.counter("drops_total", "Rain drops that paid someone")

    @property
    def cfg(self) -> RainConfig:
        return self.ctx.config

    # -- schedule -------------------------------------------------------------------------------

    @hookimpl
    async def economy_startup(self) -> None:
        base = self.cfg.interval_minutes * 60.0
        self.job = self.ctx.scheduler.every(base, self.drop_all, name="drop",
                                            jitter=lambda: self.next_wait() / base)

    def next_wait(self) -> float:
        """Seconds until the next drop: interval × (1 + U(−0.3, 0.3)), at least 60."""
        interval = self.cfg.interval_minutes * 60.0
        factor = 1.0 + self.random.uniform(-JITTER, JITTER)
        return max(MIN_WAIT_SECONDS, interval * factor)

    async def drop_all(self) -> None:
        """One drop in every channel (a failing channel does not stop the others)."""
        if not self.cfg.enabled:
            return
        for channel in self.ctx.channels:
            try:
                await self.drop(channel)
            except Exception:
                self.ctx.log.exception("rain drop in %s failed", channel)

    # -- one drop -------------------------------------------------------------------------------

    async def drop(self, channel: str) -> RainDrop | None:
        """Rain once on ``channel`` now; None when nobody eligible is present."""
        cfg = self.cfg
        at = self.ctx.clock.now()
        users = self._recipients(channel)
        if not users:
            return None
        base = self.random.randint(cfg.min_amount, cfg.max_amount)
        awards = []
        for username in users:
            factor, factors = await self.ctx.awards.factor(channel, username, TRIGGER,
                                                           float(base))
            amount = max(1, math.floor(base * factor + 0.5))
            awards.append(Award(
                username=username, amount=amount, type=POSTING_TYPE, kind=Kind.EARN,
                reason="rain drop", trigger_id=TRIGGER,
                metadata={"base": base, "factor": round(factor, 6),
                          "factors": {m.name: m.factor for m in factors if not m.hidden}}))
        key = f"rain:{channel}:{at.isoformat()}"

        async def pay(tx: LedgerTx) -> TxResult:
            result = await tx.credit_many(channel, awards, key=key)
            if cfg.announce and result.postings and not result.replayed:
                # Queued before the credit commits; counts the users the ledger really pays.
                count = len({p.user_key for p in result.postings})
                await self.ctx.announcer.announce(
                    channel, ANNOUNCEMENT, cfg.announce_message,
                    fallback=f"☔ Rain drop for {count} user(s)!", count=count,
                    currency=self.ctx.currency_word(count))
            return result

        result = await self.ctx.ledger.atomic(pay)
        paid = {p.user_key: p.amount for p in result.postings}
        if result.replayed or not paid:
            return RainDrop(channel, base, paid)
        self.drops += 1
        self._drops_metric.inc({"channel": channel})
        if cfg.pm_notification:
            for award in awards:
                credited = paid.get(user_key(award.username))
                if credited:
                    self.ctx.outbox.notify(channel, award.username, self._notice(
                        credited, award.username))
        return RainDrop(channel, base, paid)

    def _recipients(self, channel: str) -> list[str]:
        """Present users who may be paid, in arrival order (the ledger's earn gate still
        withholds newcomers)."""
        core = self.ctx.core
        skip = {user_key(n) for n in core.ignored_users} | {user_key(core.bot.username)}
        return [u.username for u in self.ctx.rooms[channel].present()
                if user_key(u.username) not in skip
                and not self.ctx.identity.is_banned(channel, u.username)]

    def _notice(self, amount: int, username: str) -> str:
        return render(self.cfg.message, f"☔ +{self.ctx.format_amount(amount)} rain drop",
                      amount=amount, currency=self.ctx.currency_word(amount), user=username)

    # -- what users can ask ---------------------------------------------------------------------

    @hookimpl
    def economy_reward_lines(self, channel: str) -> list[str]:
        cfg = self.cfg
        if not cfg.enabled:
            return []
        fmt = self.ctx.format_amount
        amount = (fmt(cfg.min_amount) if cfg.min_amount == cfg.max_amount
                  else f"{cfg.min_amount}–{fmt(cfg.max_amount)}")
        return [f"Rain: about every {cfg.interval_minutes} min everyone here gets {amount}"]
