"""The gambling plugin: PM commands and hooks wired to the games (SPEC §3.6).

Commands: ``spin <wager>`` and ``spin`` (free daily spin), ``flip <wager>``,
``challenge @user <wager>`` / ``accept`` / ``decline``, ``heist <wager>`` (others say ``join`` in
public chat), ``gambling`` | ``stats``. The games live in their own modules (``instant``,
``challenges``, ``heist``); this module only routes to them and runs the plugin's life cycle:

- **start-up:** warn about odds that favour players (G8); refund every heist left open by the
  last run and tell its crew; tell each heist outcome the last run settled but never told (it
  stopped during the suspense pause); refund any open escrow of this plugin that no pending duel
  holds (nothing should be left, every other stake settles in its own transaction); sweep
  expired duels; schedule the sweep every 60 s.
- **reload:** warn again for the new config.

Randomness comes from ``self.rolls`` only (``SystemRandom`` in production; tests assign a
:class:`~.rolls.ScriptedRolls`).
"""

from __future__ import annotations

import argparse
import re
from typing import Any

import sqlalchemy as sa

from economy_core import (
    ChatMessage,
    CliCommand,
    CommandCall,
    ConfigNote,
    Contract,
    Counter,
    Kind,
    PluginConnection,
    PluginContext,
    PostingType,
    StatsSection,
    Username,
    command,
    hookimpl,
    jsonable,
    shown,
)

from . import announce, odds, stats, tables
from .challenges import SWEEP_SECONDS, Challenges
from .channel_games import ChannelGames
from .config import GamblingConfig
from .heist import Heists
from .instant import InstantGames
from .rolls import Rolls, SystemRolls
from .validation import disabled_text, rules_for

SPIN_USAGE = "Usage: spin <wager> (or spin alone for your free daily spin)"
HEIST_USAGE = "Usage: heist <wager> (then others say join in public chat)"
_WHOLE = re.compile(r"^[+-]?[0-9]{1,15}$")


def run_odds(_args: argparse.Namespace, config: Any) -> int:
    """``cytube-economy gambling odds``: print each game's expected return for the config."""
    cfg = config if isinstance(config, GamblingConfig) else GamblingConfig()
    print(odds.report(cfg))
    return 0


class Gambling:
    """Games of chance with escrowed stakes; see the module docstring."""

    name = "gambling"
    Config = GamblingConfig
    schema = tables.schema
    contract = Contract(
        personal_data=("duels played", "heists started or joined", "per-game statistics",
                       "game cooldowns"),
        user_tables=tables.PERSONAL,
        posting_types=(
            PostingType("wager", "wager", Kind.GAMBLE),
            PostingType("gamble_win", "winnings", Kind.GAMBLE),
        ),
        counters=(Counter("free_spin_used", "free spins used"),),
        announcements=announce.ANNOUNCEMENTS,
    )
    cli_commands = (CliCommand("odds", "print each game's expected return (house edge)",
                               run_odds),)

    @hookimpl
    async def economy_user_export(self, channel: str, user_key: str,
                                  conn: PluginConnection) -> dict[str, Any]:
        """The heist crews the user joined (the core exports ``user_tables`` itself; a crew row
        has no channel column, it is reached through its heist)."""
        crew = (await conn.execute(sa.select(tables.heist_crew).where(
            tables.crew_of(channel, user_key)))).mappings().all()
        return {tables.heist_crew.name: [jsonable(dict(row)) for row in crew]} if crew else {}

    @hookimpl
    async def economy_user_forget(self, channel: str, user_key: str, pseudonym: str,
                                  conn: PluginConnection) -> None:
        """A heist's crew is the other players' history too: the user's key and name become
        the pseudonym (the core forgets ``user_tables`` itself)."""
        await conn.execute(sa.update(tables.heist_crew).where(tables.crew_of(
            channel, user_key)).values(user_key=pseudonym, username=pseudonym))

    def __init__(self, ctx: PluginContext[GamblingConfig]) -> None:
        self.ctx = ctx
        self.rolls: Rolls = SystemRolls()
        """The one random source of every game (tests replace it)."""
        self.channel_games = ChannelGames()
        self.instant = InstantGames(self)
        self.challenges = Challenges(self)
        self.heists = Heists(self, self.channel_games)
        self._games = ctx.metrics.counter("games_total", "Games played, by game")
        self._wagered = ctx.metrics.counter("wagered_total", "Currency staked, by game")
        self._paid = ctx.metrics.counter("paid_total", "Currency paid out to players, by game")

    def count_game(self, game: str, wagered: int, paid: int) -> None:
        labels = {"game": game}
        self._games.inc(labels)
        self._wagered.add(labels, wagered)
        self._paid.add(labels, paid)

    # -- life cycle -----------------------------------------------------------------------------

    @staticmethod
    def review_config(config: GamblingConfig) -> list[ConfigNote]:
        """G8: a game whose odds favour the players stops start-up (unless the operator allows
        house losses, then it is a warning); a slot table not summing to 1 is a warning. The
        core shows these in `config check` and logs them at start-up and reload."""
        return odds.review(config)

    @hookimpl
    async def economy_startup(self) -> None:
        await self.heists.abort_open()
        await self.heists.tell_untold()
        await self.refund_orphans()
        await self.sweep()
        await self.challenges.schedule_pending()
        self.ctx.scheduler.every(SWEEP_SECONDS, self.sweep, name="sweep")

    async def sweep(self) -> None:
        """Refund expired duels; end heists whose window job and watch did not run."""
        await self.challenges.sweep()
        await self.heists.finish_overdue()

    async def refund_orphans(self) -> int:
        """Refund each open escrow of this plugin that no live game holds (start-up), in every
        channel the database knows: one dropped from the config gets its stakes back too (its
        players are told only where the bot still is)."""
        ctx = self.ctx
        fmt = ctx.format_amount
        count = 0
        held: dict[str, set[int]] = {}
        for escrow in await ctx.ledger.open_escrows():
            if escrow.source != ctx.name:
                continue
            if escrow.channel not in held:
                held[escrow.channel] = {d.challenger_escrow
                                        for d in await self.challenges.pending(escrow.channel)}
            if escrow.id in held[escrow.channel]:
                continue
            result = await ctx.ledger.refund(escrow.id,
                                             reason="unfinished game refunded at start-up")
            if not result.ok:
                continue
            count += 1
            ctx.log.warning("refunded orphaned escrow %d in %s (%s, %d) of %s", escrow.id,
                            escrow.channel, escrow.purpose, escrow.amount, escrow.username)
            if escrow.channel in ctx.channels:
                ctx.outbox.notify(escrow.channel, escrow.username, (
                    f"🎲 A game of yours was interrupted by a restart: your "
                    f"{fmt(escrow.amount)} stake is refunded. Balance: {fmt(result.balance)}"),
                    transactional=True)
        return count

    # -- hooks ----------------------------------------------------------------------------------

    @hookimpl
    async def economy_chat_message(self, event: ChatMessage) -> None:
        await self.heists.on_chat(event)

    @hookimpl(optionalhook=True)
    async def economy_achievement_value(self, channel: str, username: str,
                                        condition: str) -> int | None:
        """For achievements: the user's biggest win (largest net of one game, all games)."""
        if condition != "gambling_biggest_win":
            return None
        found = await stats.read(self.ctx.db, channel, username)
        return max((g.biggest_win for g in found.values()), default=0)

    # -- commands -------------------------------------------------------------------------------

    def _on(self, game: str) -> bool:
        """Whether ``help`` lists a game: gambling and that game are switched on."""
        return bool(self.ctx.config.enabled and getattr(self.ctx.config, game).enabled)

    @command("spin", help="Slots: spin <wager>; spin alone is your free daily spin",
             listed=lambda self: self._on("spin") or self._on("daily_free_spin"))
    async def spin(self, call: CommandCall, wager: int | None = None) -> str:
        """Three reels; matching symbols pay a multiple of the wager, 7️⃣7️⃣7️⃣ is the jackpot."""
        if wager is None:
            return await self.instant.free_spin(call.channel, call.username, SPIN_USAGE)
        return await self.instant.spin(call.channel, call.username, int(wager))

    @command("flip", help="Coin flip: flip <wager>; heads pays double",
             listed=lambda self: self._on("flip"))
    async def flip(self, call: CommandCall, wager: int) -> str:
        return await self.instant.flip(call.channel, call.username, int(wager))

    @command("challenge", help="Duel someone for coins: challenge @user <wager>",
             aliases=("duel",), listed=lambda self: self._on("challenge"))
    async def challenge(self, call: CommandCall, target: Username, wager: int) -> str:
        """Your stake is held until they accept (50/50, the winner takes the pot minus a
        rake), decline, or let it expire."""
        return await self.challenges.create(call.channel, call.username, str(target),
                                            int(wager))

    @command("accept", help="Accept the oldest challenge sent to you",
             listed=lambda self: self._on("challenge"))
    async def accept(self, call: CommandCall) -> str:
        return await self.challenges.accept(call.channel, call.username)

    @command("decline", help="Decline the oldest challenge sent to you",
             listed=lambda self: self._on("challenge"))
    async def decline(self, call: CommandCall) -> str:
        return await self.challenges.decline(call.channel, call.username)

    @command("heist", help="Plan a channel heist: heist <wager>; others say join in chat",
             listed=lambda self: self._on("heist"))
    async def heist(self, call: CommandCall, wager: str | None = None) -> str:
        """Everyone who says join in public chat within the window puts in the same buy-in;
        the crew wins, pushes or loses together."""
        off = disabled_text(self.ctx.config, rules_for(self.ctx.config, "heist"))
        if off:
            return off
        word = (wager or "").strip().casefold()
        if word in ("", "join", "status"):
            return await self.heists.explain(call.channel, HEIST_USAGE)
        if not _WHOLE.fullmatch(word):  # the range is the game's own check (it says the limits)
            return f"wager: expected a whole number, got {shown(wager or '')}\n{HEIST_USAGE}"
        return await self.heists.start(call.channel, call.username, int(word))

    @hookimpl
    async def economy_stats(self, channel: str) -> StatsSection:
        """The house's figures for the admin's statistics (from this plugin's own data)."""
        lines, figures = await self._house(channel)
        return StatsSection("Gambling", lines, figures)

    async def _house(self, channel: str) -> tuple[list[str], dict[str, Any]]:
        return await stats.house_report(self.ctx.db, self.ctx.ledger, channel,
                                        odds.spin_return(self.ctx.config.spin.payouts),
                                        self.ctx.format_amount)

    @command("econ:gambling", admin=True,
             help="The house: wagered, paid, profit, actual and configured edge (admin)")
    async def econ_gambling(self, call: CommandCall) -> str:
        lines, _ = await self._house(call.channel)
        return "\n".join(["🎰 Gambling", *lines])

    @command("gambling", help="Your gambling stats", aliases=("stats",),
             listed=lambda self: self.ctx.config.enabled)
    async def gambling(self, call: CommandCall) -> str:
        found = await stats.read(self.ctx.db, call.channel, call.username)
        return stats.summary(found, self.ctx.format_amount)
