"""Promotions by earnings: noticed from committed postings, stored, told.

**Noticing** (:meth:`Promoter.observe`, called with every committed ledger transaction, on the
core's commit-observer task — never on the ledger writer): for each earn-class posting (kind
EARN, amount > 0) the user's lifetime-earned *estimate* grows by its amount. Only a user whose
estimate reaches the threshold of their next possible tier, or who has no estimate yet, is
checked; a presence tick of thousands of postings is one pass over them in memory and at most one
batched account read. The estimate never undercounts (each posting counts once, added to a
figure read before or after it: at worst twice), so no promotion is missed; the check reads the
committed ``lifetime_earned`` and corrects it.

**Storing and telling** (:meth:`Promoter.apply`): one transaction per channel stores the
promotions (promote only, :func:`~.tiers.promoted_to`), the CyTube levels they give, and the
claim of the public line (:func:`~.announce.claim_line`); after it commits, each user is
notified with their new perks, the merged line is announced when the gate allowed it,
``economy_rank_reached`` is told and the robot is asked for the levels. A crash at any commit
therefore stores and tells each promotion at most once (a crash between the commit and the
telling loses that telling, never repeats it); the robot is asked again later while a level is
still pending (setting a rank twice is harmless).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta

import attrs

from economy_core import Kind, PluginContext, Posting, render, user_key

from . import announce, hookspecs
from .config import RanksConfig
from .store import Change, RankStore
from .tiers import perks_of, promoted_to, threshold_of_next

Due = dict[str, dict[str, str]]
"""Channel → user key → display name: users to check."""


def level_of(cfg: RanksConfig, tier: int) -> int:
    """The CyTube channel level reaching tier ``tier`` gives (0: none, or switched off)."""
    if not cfg.cytube_promotion.enabled:
        return 0
    return max((t.cytube_level_promotion for t in cfg.tiers[:tier + 1]), default=0)


class Promoter:
    """See the module docstring."""

    def __init__(self, ctx: PluginContext[RanksConfig], store: RankStore) -> None:
        self.ctx = ctx
        self.store = store
        self.estimates: dict[tuple[str, str], int] = {}
        """(channel, user key) → lifetime earned, never below the committed figure."""
        self.promotions = 0
        self._metric = ctx.metrics.counter("promotions_total", "Promotions by earnings")

    @property
    def cfg(self) -> RanksConfig:
        return self.ctx.config

    # -- noticing -------------------------------------------------------------------------------

    def observe(self, postings: Sequence[Posting]) -> Due:
        """The users among ``postings``' earners who need a check (module docstring)."""
        due: Due = {}
        tiers = self.cfg.tiers
        estimates, store = self.estimates, self.store
        earn = Kind.EARN
        for p in postings:  # a presence tick: thousands, so nothing here reads or awaits
            if p.amount <= 0 or p.kind != earn:
                continue
            where = (p.channel, p.user_key)
            estimate = estimates.get(where)
            if estimate is not None:
                estimate += p.amount
                estimates[where] = estimate
                standing = store.get(p.channel, p.user_key)
                if estimate < threshold_of_next(tiers, standing.tier, standing.held):
                    continue
            due.setdefault(p.channel, {})[p.user_key] = p.username
        return due

    async def check(self, channel: str, users: Mapping[str, str]) -> list[Change]:
        """Read the users' committed lifetime earnings and store and tell their promotions."""
        if not users:
            return []
        accounts = await self.ctx.ledger.accounts(channel, list(users.values()))
        cfg = self.cfg
        changes = []
        for key in users:
            account = accounts.get(key)
            if account is None:
                continue
            self.estimates[(channel, key)] = account.lifetime_earned
            standing = self.store.get(channel, key)
            new = promoted_to(cfg.tiers, account.lifetime_earned, standing.tier, standing.held)
            if new is None:
                continue
            level = level_of(cfg, new)
            gained = level if level > level_of(cfg, standing.tier) else 0
            changes.append(Change(account.username, standing, new, standing.held,
                                  max(standing.level_pending, gained)))
        return await self.apply(channel, changes)

    # -- storing and telling --------------------------------------------------------------------

    async def apply(self, channel: str, changes: Sequence[Change]) -> list[Change]:
        """Store promotions and claim their line in one transaction, then tell them."""
        if not changes:
            return []
        cfg = self.cfg
        now = self.ctx.clock.now()
        today = self.ctx.clock.local_date(self.ctx.tz)
        ordered = sorted(changes, key=lambda c: (-c.tier, c.key))
        async with self.store.lock:
            async with self.ctx.db.begin() as conn:
                # promote only, against the stored rank as it is now (an admin may have set it
                # since the check read it)
                fresh = [c for c in (self._still(channel, c) for c in ordered) if c is not None]
                await self.store.write(conn, channel, fresh, now)
                loud = bool(fresh) and cfg.announce and await announce.claim_line(
                    conn, channel, fresh[0].tier, now=now, today=today,
                    interval=timedelta(minutes=cfg.announce_interval_minutes))
            self.store.remember(channel, fresh)
        self.promotions += len(fresh)
        if fresh:
            self._metric.add({"channel": channel}, len(fresh))
        await self.tell(channel, fresh, loud)
        return fresh

    def _still(self, channel: str, change: Change) -> Change | None:
        """``change`` against the stored rank now: None when it no longer promotes."""
        now = self.store.get(channel, change.key)
        floor = now.tier if now.held is None else max(now.tier, now.held)
        if change.tier <= floor:
            return None
        return attrs.evolve(change, old=now, held=now.held,
                            level_pending=max(now.level_pending, change.level_pending))

    async def tell(self, channel: str, changes: Sequence[Change], loud: bool) -> None:
        """Notify each promoted user, announce the merged line (``loud``), tell the other
        plugins, ask the robot for the levels."""
        cfg = self.cfg
        for c in changes:
            self.ctx.outbox.notify(channel, c.username, self.notice(c.username, c.tier))
        if loud and changes:
            await announce.say(self.ctx, channel, announce.line(
                cfg.announce_message, cfg.announce_many_message,
                [(c.username, cfg.tiers[c.tier].name) for c in changes]))
        for c in changes:
            await self.ctx.hooks.broadcast(hookspecs.economy_rank_reached, channel=channel,
                                           username=c.username, tier_index=c.tier,
                                           tier_name=cfg.tiers[c.tier].name)
        await self.ask_levels(channel, [(c.username, c.level_pending) for c in changes
                                        if c.level_pending > 0])

    def notice(self, username: str, tier: int) -> str:
        cfg = self.cfg
        rank = cfg.tiers[tier].name
        perks = perks_of(cfg.tiers, tier, cfg.spend_discount_per_rank).describe()
        return render(cfg.notify_message, f"🎖️ You are now {rank}! Perks: {perks}",
                      user=username, rank=rank, perks=perks)

    # -- CyTube levels --------------------------------------------------------------------------

    async def ask_levels(self, channel: str, wanted: Iterable[tuple[str, int]],
                         ranks: Mapping[str, int] | None = None) -> None:
        """Ask the robot to raise each user to their level where their known channel rank is
        lower (``ranks``: ranks just seen, by user key; else the room's). A user whose rank is
        unknown (0: not seen, or a guest) keeps the level pending until seen; a user already at
        it, or a request the robot took, clears it; a refused one stays pending (logged)."""
        room = self.ctx.rooms[channel]
        for username, level in wanted:
            key = user_key(username)
            rank = ranks.get(key, 0) if ranks is not None else room.rank_of(username)
            if rank >= level:
                await self._level_done(channel, key, level)
                continue
            if rank < 1:
                continue
            result = await self.ctx.robot.set_channel_rank(channel, username, level)
            if result.sent:
                self.ctx.log.info("asked the robot to raise %s to channel rank %d in %s",
                                  username, level, channel)
                await self._level_done(channel, key, level)
            else:
                self.ctx.log.warning("could not raise %s to channel rank %d in %s: %s (kept "
                                     "pending)", username, level, channel, result.error)

    async def _level_done(self, channel: str, key: str, level: int) -> None:
        async with self.store.lock:
            async with self.ctx.db.begin() as conn:
                await self.store.clear_level(conn, channel, key, level)
            self.store.level_cleared(channel, key, level)

    async def seen(self, channel: str, users: Iterable[tuple[str, int]]) -> None:
        """Users seen in the room with their channel rank: ask for their pending levels."""
        pending = self.store.pending_levels(channel)
        if not pending:
            return
        users = list(users)
        ranks = {user_key(name): rank for name, rank in users}
        wanted = [(name, pending[user_key(name)]) for name, _ in users
                  if user_key(name) in pending]
        if wanted:
            await self.ask_levels(channel, wanted, ranks)

