"""Buying a CyTube channel level (SPEC §3.10 ``buy cytube2`` / ``buy level2``).

Refusals that move nothing come first: switched off, an unknown item, a rank below
``cytube_promotion.min_rank`` (both named), a level the user has or bought already, a bot that
is known to be below channel rank 3 (it could not set ranks: refused before any charge). Then
reserve → apply → settle (RELIABILITY 19, 30): the price (``ctx.pricing.quote``, with the rank
discount) goes into a ledger escrow (type ``cytube_level``, a spend), the robot is asked, and
the escrow is released — together with the ``ranks_purchases`` row, in one transaction — when the
request was sent, or refunded in full when it was not (no connection, refused), with the reason.
An escrow a crash left open is refunded at the next start-up (:meth:`LevelShop.refund_orphans`):
the user never pays for a level that may not have been given.
"""

from __future__ import annotations

import sqlalchemy as sa

from economy_core import (
    INSUFFICIENT_FUNDS,
    Kind,
    LedgerTx,
    PluginContext,
    TxResult,
    user_key,
)

from . import tables
from .config import RanksConfig
from .promote import level_of
from .store import RankStore
from .tiers import find_tier

ITEMS = {"cytube2": 2, "level2": 2}
"""Item words → the CyTube channel level they buy."""
PURPOSE = "ranks.cytube_level"
"""The escrow purpose of a level purchase."""
POSTING_TYPE = "cytube_level"
SINK = "ranks.cytube_level"
"""The spend sink the price is quoted for (``economy_price_adjustments`` sees it)."""
USAGE = "Usage: buy_level cytube2 (or level2): CyTube channel level 2"


class LevelShop:
    """See the module docstring."""

    def __init__(self, ctx: PluginContext[RanksConfig], store: RankStore) -> None:
        self.ctx = ctx
        self.store = store
        self._metric = ctx.metrics.counter("cytube_promotions_total",
                                           "CyTube levels bought (robot asked)")

    @property
    def cfg(self) -> RanksConfig:
        return self.ctx.config

    async def buy(self, channel: str, username: str, item: str, channel_rank: int) -> str:
        """Sell ``item`` to the user (their known CyTube channel rank ``channel_rank``); the
        reply says what happened (see the module docstring)."""
        promo, tiers = self.cfg.cytube_promotion, self.cfg.tiers
        level = ITEMS.get(item.strip().casefold())
        if level is None:
            return USAGE
        if not (promo.enabled and promo.purchasable):
            return "CyTube level promotions are not for sale here."
        needed = find_tier(tiers, promo.min_rank) or 0
        mine = min(self.store.tier(channel, username), len(tiers) - 1)
        if mine < needed:
            return (f"CyTube level {level} needs the rank {tiers[needed].name}; you are "
                    f"{tiers[mine].name}.")
        if channel_rank >= level:
            return f"You already have CyTube channel rank {channel_rank}: nothing to buy."
        if level_of(self.cfg, mine) >= level:
            return (f"Your rank {tiers[mine].name} gives you CyTube level {level} already "
                    "(asked for when you are next here): nothing to buy.")
        if await self._bought(channel, username, level):
            return f"You already bought CyTube level {level}; nothing was charged."
        bot = self.ctx.robot.bot_rank(channel)
        if self.ctx.robot.can_set_ranks(channel) is False:
            return (f"I can't promote anyone right now: my channel rank is {bot} and CyTube "
                    "needs 3. Nothing was charged.")
        fmt = self.ctx.format_amount
        price = await self.ctx.pricing.quote(channel, username, SINK, promo.cost)
        held = await self.ctx.ledger.escrow(
            channel, username, price.amount, purpose=PURPOSE, type=POSTING_TYPE,
            kind=Kind.SPEND, reason=f"CyTube level {level}",
            metadata={"level": level, "base": price.base})
        if not held.ok:
            if held.error == INSUFFICIENT_FUNDS:
                return (f"CyTube level {level} costs {fmt(price.amount)}; you have "
                        f"{fmt(held.balance)}.")
            return f"Could not take the payment ({held.error}); nothing was charged."
        result = await self.ctx.robot.set_channel_rank(channel, username, level)
        if not result.sent:
            refund = await self.ctx.ledger.refund(
                held.escrow_id, reason=f"CyTube level {level} not given: {result.error}")
            return (f"❌ Could not promote you: {result.error}. Refunded {fmt(price.amount)}; "
                    f"balance {fmt(refund.balance)}.")
        await self._settle(channel, username, level, price.amount, held.escrow_id)
        self._metric.inc({"channel": channel})
        was = f" (was {fmt(price.base)})" if price.amount < price.base else ""
        return (f"⭐ Asked CyTube to make you channel rank {level} for "
                f"{fmt(price.amount)}{was}. Balance: {fmt(held.balance)}.")

    async def listing(self, channel: str, username: str) -> list[str]:
        """The line a shop listing shows for this user (nothing while not for sale)."""
        promo, tiers = self.cfg.cytube_promotion, self.cfg.tiers
        if not (promo.enabled and promo.purchasable):
            return []
        fmt = self.ctx.format_amount
        price = await self.ctx.pricing.quote(channel, username, SINK, promo.cost)
        was = f" (was {fmt(price.base)})" if price.amount < price.base else ""
        needed = tiers[find_tier(tiers, promo.min_rank) or 0].name
        return [f"cytube2 — {fmt(price.amount)}{was}: CyTube channel level 2 (rank {needed} "
                "or higher)"]

    async def _bought(self, channel: str, username: str, level: int) -> bool:
        p = tables.purchases
        async with self.ctx.db.connect() as conn:
            found = await conn.execute(sa.select(p.c.level).where(
                p.c.channel == channel, p.c.user_key == user_key(username), p.c.level >= level))
            return found.first() is not None

    async def _settle(self, channel: str, username: str, level: int, price: int,
                      escrow_id: int) -> TxResult:
        """Release the escrow (the money is spent) and record the purchase, in one
        transaction."""

        async def settle(tx: LedgerTx) -> TxResult:
            released = await tx.release(escrow_id, reason=f"CyTube level {level}")
            if released.ok:
                await tx.conn.execute(tables.purchases.insert().values(
                    channel=channel, user_key=user_key(username), level=level,
                    username=username, price=price, escrow_id=escrow_id, at=tx.now))
            return released

        return await self.ctx.ledger.atomic(settle)

    async def refund_orphans(self) -> int:
        """Refund every open escrow of a level purchase (a crash left it between the charge and
        its settlement); the user is told where the bot still is."""
        ctx = self.ctx
        count = 0
        for escrow in await ctx.ledger.open_escrows(purpose=PURPOSE):
            if escrow.source != ctx.name:
                continue
            result = await ctx.ledger.refund(escrow.id,
                                             reason="CyTube level purchase interrupted")
            if not result.ok:
                continue
            count += 1
            ctx.log.warning("refunded an unsettled CyTube level purchase of %s in %s (%d)",
                            escrow.username, escrow.channel, escrow.amount)
            if escrow.channel in ctx.channels:
                ctx.outbox.notify(escrow.channel, escrow.username, (
                    f"⭐ Your CyTube level purchase was interrupted by a restart: "
                    f"{ctx.format_amount(escrow.amount)} refunded."), transactional=True)
        return count
