"""The one-player games that resolve at once: ``spin <wager>``, the free daily ``spin`` and
``flip <wager>``.

Each game is ONE ledger transaction: take the cooldown and daily slot → escrow the wager (type
``wager``, kind GAMBLE: debit-or-fail) → roll → release the escrow with the payout (type
``gamble_win``) when there is one → statistics → the announcement rule's memory. A restart can
therefore never leave a stake open: the game either happened entirely or not at all. The free spin
stakes nothing: its ``free_spin_used`` day counter is bumped in the transaction that credits it,
and a second one the same day finds the counter at 2 and rolls back.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from economy_core import Award, Kind, LedgerTx, user_key

from . import announce, odds, stats
from .config import GamblingConfig, SlotPayout
from .host import Host
from .rolls import Rolls
from .validation import GameRules, Refused, check_player, rules_for, take_slot

SLOT_POOL = ("🍒", "🍋", "💎", "7️⃣", "🍊", "🍇", "⭐", "🔔")
"""Symbols drawn for the reels of a partial (two equal + one other) or a loss (three distinct)."""


def reels(row: SlotPayout | None, rolls: Rolls) -> str:
    """What the reels show for a slot row (cosmetic picks only)."""
    if row is not None and row.symbols not in ("partial", "loss"):
        return row.symbols
    if row is not None and row.symbols == "partial":
        twice = rolls.pick(SLOT_POOL)
        once = rolls.pick([s for s in SLOT_POOL if s != twice])
        return rolls.pick([twice + twice + once, twice + once + twice, once + twice + twice])
    first = rolls.pick(SLOT_POOL)
    second = rolls.pick([s for s in SLOT_POOL if s != first])
    third = rolls.pick([s for s in SLOT_POOL if s not in (first, second)])
    return first + second + third


@attrs.frozen
class Played:
    """One settled instant game."""

    wager: int
    payout: int
    shown: str
    multiplier: float
    balance: int


Decide = Callable[[float], tuple[int, str, float, str | None]]
"""roll → (payout, what is shown, multiplier, announcement kind "jackpot" | "win" | None)."""


class InstantGames:
    """spin, free spin, flip; see the module docstring."""

    def __init__(self, host: Host) -> None:
        self.host = host

    @property
    def cfg(self) -> GamblingConfig:
        return self.host.ctx.config

    def _big(self, payout: int) -> bool:
        cfg = self.cfg
        return payout > 0 and payout >= max(cfg.spin.jackpot_announce_threshold,
                                            cfg.announcements.jackpot_min_amount)

    def _kind(self, payout: int, stake: int) -> str | None:
        """Which announcement a spin payout may get: big payouts are jackpots (when those are
        announced at all), other wins are ordinary wins."""
        if self._big(payout):
            return "jackpot" if self.cfg.spin.announce_jackpots_public else None
        return "win" if payout > stake else None

    def _suffix(self, balance: int) -> str:
        return f" Balance: {self.host.ctx.format_amount(balance)}"

    # -- spin -----------------------------------------------------------------------------------

    async def spin(self, channel: str, username: str, wager: int) -> str:
        rules = rules_for(self.cfg, "spin")
        refusal = await check_player(self.host.ctx, channel, username, rules, wager)
        if refusal:
            return refusal
        table = list(self.cfg.spin.payouts)

        def decide(r: float) -> tuple[int, str, float, str | None]:
            row = odds.roll_slot(table, r)
            payout = odds.slot_payout(row, wager)
            return (payout, reels(row, self.host.rolls), 0.0 if row is None else row.multiplier,
                    self._kind(payout, wager))

        try:
            played = await self._stake_and_roll(channel, username, rules, wager, decide,
                                                self.cfg.announcements.spin_win)
        except Refused as refused:
            return refused.text
        fmt = self.host.ctx.format_amount
        net = played.payout - wager
        if played.multiplier >= odds.JACKPOT_MULTIPLIER:
            text = (f"🎰 {played.shown} JACKPOT! ×{played.multiplier:g}: you win "
                    f"{fmt(played.payout)} (net +{fmt(net)}).")
        elif net > 0:
            text = f"🎰 {played.shown} You win {fmt(played.payout)} (net +{fmt(net)})."
        elif net == 0:
            text = f"🎰 {played.shown} Push: your {fmt(wager)} back."
        elif played.payout > 0:
            text = f"🎰 {played.shown} {fmt(played.payout)} back (net −{fmt(-net)})."
        else:
            text = f"🎰 {played.shown} No luck: −{fmt(wager)}."
        return text + self._suffix(played.balance)

    # -- flip -----------------------------------------------------------------------------------

    async def flip(self, channel: str, username: str, wager: int) -> str:
        rules = rules_for(self.cfg, "flip")
        refusal = await check_player(self.host.ctx, channel, username, rules, wager)
        if refusal:
            return refusal
        win_chance = self.cfg.flip.win_chance

        def decide(r: float) -> tuple[int, str, float, str | None]:
            won = odds.roll_flip(win_chance, r)
            payout = odds.flip_payout(won, wager)
            return (payout, "Heads" if won else "Tails", float(odds.FLIP_MULTIPLIER if won else 0),
                    "win" if won else None)

        try:
            played = await self._stake_and_roll(channel, username, rules, wager, decide,
                                                self.cfg.announcements.flip_win)
        except Refused as refused:
            return refused.text
        fmt = self.host.ctx.format_amount
        if played.payout > 0:
            text = (f"🪙 Heads! You win {fmt(played.payout)} "
                    f"(net +{fmt(played.payout - wager)}).")
        else:
            text = f"🪙 Tails. −{fmt(wager)}."
        return text + self._suffix(played.balance)

    # -- shared: stake, roll, settle in one transaction -----------------------------------------

    async def _stake_and_roll(self, channel: str, username: str, rules: GameRules, wager: int,
                              decide: Decide, win_template: str) -> Played:
        ctx = self.host.ctx
        game = rules.game
        cfg = self.cfg

        async def play(tx: LedgerTx) -> tuple[Played, tuple[str, str] | None]:
            await take_slot(tx, channel, username, rules)
            held = await tx.escrow(channel, username, wager, purpose=f"gambling.{game}",
                                   type="wager", kind=Kind.GAMBLE, reason=f"{rules.title} wager",
                                   metadata={"game": game})
            if not held.ok:
                raise Refused(f"Not enough coins: you have {ctx.format_amount(held.balance)}, "
                              f"the wager is {ctx.format_amount(wager)}.")
            payout, shown, multiplier, kind = decide(self.host.rolls.roll())
            awards = [Award(username, payout, type="gamble_win", kind=Kind.GAMBLE,
                            trigger_id=f"gambling.{game}", reason=f"{rules.title} win",
                            metadata={"game": game, "wager": wager, "shown": shown})
                      ] if payout > 0 else []
            done = await tx.release(held.escrow_id, payouts=awards, reason=f"{rules.title}")
            if not done.ok:  # cannot happen: the escrow was opened in this transaction
                raise RuntimeError(f"releasing escrow {held.escrow_id} failed: {done.error}")
            balance = int(done.balances.get(user_key(username), held.balance))
            await stats.record(tx.conn, channel, username, game, wager, payout)
            announced = kind is not None and await announce.win_gate(
                tx.conn, channel, tx.today, tx.now, payout, jackpot=kind == "jackpot",
                cfg=cfg.announcements)
            template = cfg.announcements.jackpot if kind == "jackpot" else win_template
            return Played(wager, payout, shown, multiplier, balance), (
                (str(kind), template) if announced else None)

        played, line = await ctx.ledger.atomic(play)
        self.host.count_game(game, played.wager, played.payout)
        if line is not None:
            await announce.player_line(ctx, channel, line[0], line[1], username, played.payout)
        return played

    # -- free spin ------------------------------------------------------------------------------

    async def free_spin(self, channel: str, username: str, usage: str) -> str:
        """``spin`` alone: the free daily spin, or the usage line when it is off or used."""
        ctx = self.host.ctx
        free = self.cfg.daily_free_spin
        if not free.enabled:
            return usage
        rules = rules_for(self.cfg, "free_spin")
        refusal = await check_player(ctx, channel, username, rules, None)
        if refusal:
            return refusal
        used_text = f"{usage}\n🎁 Your free spin is used for today: back tomorrow!"
        today = ctx.clock.now().astimezone(ctx.ledger.tz).date()
        if (await ctx.ledger.daily(channel, username, today)).get("free_spin_used", 0) > 0:
            return used_text
        table = list(self.cfg.spin.payouts)
        stake = free.equivalent_wager
        cfg = self.cfg

        async def play(tx: LedgerTx) -> tuple[Played, tuple[str, str] | None]:
            if await tx.bump_daily(channel, username, tx.today, "free_spin_used") > 1:
                raise Refused(used_text)
            row = odds.roll_slot(table, self.host.rolls.roll())
            payout = odds.slot_payout(row, stake)
            shown = reels(row, self.host.rolls)
            balance = await tx.balance(channel, username)
            if payout > 0:
                done = await tx.credit(channel, username, payout, type="gamble_win",
                                       kind=Kind.GAMBLE, trigger_id="gambling.free_spin",
                                       reason="free spin win",
                                       metadata={"game": "free_spin", "shown": shown})
                balance = done.balance
            await stats.record(tx.conn, channel, username, "free_spin", 0, payout)
            kind = self._kind(payout, 0)  # nothing was staked: any payout is a win
            announced = kind is not None and await announce.win_gate(
                tx.conn, channel, tx.today, tx.now, payout, jackpot=kind == "jackpot",
                cfg=cfg.announcements)
            template = (cfg.announcements.jackpot if kind == "jackpot"
                        else cfg.announcements.free_spin_win)
            multiplier = 0.0 if row is None else row.multiplier
            return Played(0, payout, shown, multiplier, balance), (
                (str(kind), template) if announced else None)

        try:
            played, line = await ctx.ledger.atomic(play)
        except Refused as refused:
            return refused.text
        self.host.count_game("free_spin", 0, played.payout)
        if line is not None:
            await announce.player_line(ctx, channel, line[0], line[1], username, played.payout)
        fmt = ctx.format_amount
        if played.multiplier >= odds.JACKPOT_MULTIPLIER:
            text = f"🎁 Free spin: {played.shown} JACKPOT! You win {fmt(played.payout)}!"
        elif played.payout > 0:
            text = f"🎁 Free spin: {played.shown} You win {fmt(played.payout)}!"
        else:
            text = f"🎁 Free spin: {played.shown} No luck this time; back tomorrow!"
        return text + self._suffix(played.balance)
