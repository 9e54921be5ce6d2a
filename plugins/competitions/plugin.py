"""The competitions plugin: daily awards over the day's counters (SPEC §3.13).

**When.** Every day at :data:`RUN_AT` channel time (``ctx.tz``, DST included), per channel, for
that local date. At start-up a job due at once catches up yesterday (a bot that was down, or
killed, at 23:59) and, after 23:59, today; a competition already settled for its day is skipped,
so the catch-up moves nothing that was paid.

**Who.** The day's values are read from the ledger's daily counters (``top_daily``: every user
with a row that day), before anything is paid; users banned now, the bot and ignored users are
left out. ``daily_threshold``: everyone at or over ``threshold``; ``daily_top``: the highest value
above 0, a tie going to the first name alphabetically. Judging earnings (the core's ``z_earned``
counter, which excludes tips, gambling and refunds) subtracts the day's competition prizes, so the
order the competitions run in — or a second run after a crash — changes no figure.

**What.** The fixed ``reward``, or ``max(1, floor(z_earned × reward_percent_of_earnings / 100))``
of the winner's earnings that day: a fixed award (type ``competition``, kind EARN, trigger
``competition.<id>``; never multiplied; the onboarding minimums may withhold it).

**Once.** Each competition is ONE ledger transaction: the claim row (``competitions_runs``:
channel, day, id), checked absent first, its prizes (``competitions_prizes``) and their credits.
A restart at 23:59 or a crash at any commit therefore pays each (day, id) exactly once; a
competition that fails is logged and the others still run. Winners are notified (quiet mode
mutes it) after the commit, and one public summary line lists the run's winners.

**Counters.** At start-up (and at a reload) each enabled competition's ``field`` is checked
against the daily counters the enabled plugins declare (``ctx.catalogue.counters``); one nobody
keeps is logged as a warning naming the known counters, and the competition is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time, timedelta
from typing import Any

import attrs
import sqlalchemy as sa

from economy_core import (
    Award,
    Catalogue,
    CommandCall,
    ConfigNote,
    Contract,
    Kind,
    LedgerTx,
    PluginContext,
    PostingType,
    command,
    hookimpl,
    render,
    user_key,
)

from . import judge, public, tables
from .config import Competition, CompetitionsConfig
from .judge import EARNINGS, Standing
from .public import say

RUN_AT = time(23, 59)
"""Local time of the daily judging (SPEC §3.13)."""
POSTING_TYPE = "competition"
READ_LIMIT = 1_000_000
"""Most rows of one counter read for one day (far more than a channel has users)."""
SUMMARY_NAMES = 5
"""Names listed per competition in the summary line before "+N more"."""


@attrs.frozen
class Settled:
    """One competition settled by this run: who got what (only credits really paid)."""

    competition: Competition
    day: date
    paid: tuple[tuple[str, int], ...]


class Competitions:
    """Daily competitions; see the module docstring."""

    name = "competitions"
    Config = CompetitionsConfig
    schema = tables.schema
    contract = Contract(
        personal_data=("competition prizes won",),
        user_tables=tables.PERSONAL,
        posting_types=(PostingType(POSTING_TYPE, "competition prize",
                                                   Kind.EARN),),
                        announcements=public.ANNOUNCEMENTS)

    def __init__(self, ctx: PluginContext[CompetitionsConfig]) -> None:
        self.ctx = ctx
        self.missing: dict[str, str] = {}
        """Competition id → its field, for enabled competitions whose counter nobody keeps."""
        self._prizes_metric = ctx.metrics.counter("prizes_total",
                                                  "Competition prizes paid, by competition")

    @property
    def cfg(self) -> CompetitionsConfig:
        return self.ctx.config

    # -- life cycle -----------------------------------------------------------------------------

    @hookimpl
    async def economy_startup(self) -> None:
        self.check_fields()
        self.ctx.scheduler.daily(RUN_AT, self.run_today, name="daily")
        self.ctx.scheduler.once(0, self.catch_up, name="catch_up")

    @hookimpl
    async def economy_config_reloaded(self, config: Any) -> None:
        self.check_fields()

    @staticmethod
    def review_config(config: CompetitionsConfig, catalogue: Catalogue) -> list[ConfigNote]:
        """A warning for each enabled competition whose counter no enabled plugin keeps (it is
        skipped: it would never pay). The core shows it in ``config check`` and logs it at
        start-up and reload."""
        known = catalogue.counters
        return [ConfigNote(f"plugins.competitions.daily.{c.id}",
                           f"competition {c.id!r} judges {c.condition.field!r}, a daily counter "
                           f"no enabled plugin keeps: it is skipped (known counters: "
                           f"{', '.join(sorted(known))})")
                for c in config.daily if c.enabled and c.condition.field not in known]

    def check_fields(self) -> dict[str, str]:
        """Remember each enabled competition whose counter no enabled plugin keeps (skipped;
        :meth:`review_config` reports them)."""
        known = self.ctx.catalogue.counters
        self.missing = {c.id: c.condition.field for c in self.cfg.daily
                        if c.enabled and c.condition.field not in known}
        return self.missing

    def _today(self) -> date:
        return self.ctx.clock.local_date(self.ctx.tz)

    async def run_today(self) -> list[Settled]:
        return await self.run_all(self._today())

    async def catch_up(self) -> list[Settled]:
        """Yesterday (and today after :data:`RUN_AT`): whatever was not settled yet."""
        now = self.ctx.clock.now().astimezone(self.ctx.tz)
        settled = await self.run_all(now.date() - timedelta(days=1))
        if now.time() >= RUN_AT:
            settled += await self.run_all(now.date())
        return settled

    async def run_all(self, day: date) -> list[Settled]:
        """Settle ``day`` in every channel (a failing channel does not stop the others)."""
        done: list[Settled] = []
        for channel in self.ctx.channels:
            try:
                done += await self.run(channel, day)
            except Exception:
                self.ctx.log.exception("competitions in %s for %s failed", channel, day)
        return done

    # -- one day in one channel -----------------------------------------------------------------

    async def run(self, channel: str, day: date) -> list[Settled]:
        """Judge and pay every enabled competition of ``day`` not settled yet; one summary
        line for what this run paid."""
        todo = [c for c in self.cfg.daily if c.enabled and c.id not in self.missing]
        done_ids = await self._settled_ids(channel, day)
        todo = [c for c in todo if c.id not in done_ids]
        if not todo:
            return []
        standings = await self._standings(channel, day, {c.condition.field for c in todo})
        prizes: dict[str, list[tuple[str, int]]] = {}
        winners = {c.id: judge.winners(c, standings[c.condition.field]) for c in todo}
        earned = {s.key: s.value for s in standings.get(EARNINGS, [])}
        if any(c.reward is None for c in todo) and EARNINGS not in standings:
            earned = {s.key: s.value for s in await self._earnings(channel, day)}
        for comp in todo:
            prizes[comp.id] = [(s.username, judge.prize(comp, earned.get(s.key, 0)))
                               for s in winners[comp.id]]
        settled: list[Settled] = []
        for comp in todo:
            try:
                result = await self.settle(channel, day, comp, prizes[comp.id], standings)
            except Exception:
                self.ctx.log.exception("competition %r in %s for %s failed", comp.id, channel,
                                       day)
                continue
            if result is not None:
                settled.append(result)
        await self._tell(channel, day, settled)
        return settled

    async def _settled_ids(self, channel: str, day: date) -> set[str]:
        r = tables.runs
        async with self.ctx.db.connect() as conn:
            rows = await conn.execute(sa.select(r.c.competition).where(r.c.channel == channel,
                                                                       r.c.day == day))
            return {row.competition for row in rows}

    def _eligible(self, channel: str, username: str) -> bool:
        core = self.ctx.core
        key = user_key(username)
        if key == user_key(core.bot.username) or key in {user_key(n)
                                                         for n in core.ignored_users}:
            return False
        return not self.ctx.identity.is_banned(channel, username)

    async def _earnings(self, channel: str, day: date) -> list[Standing]:
        """The day's earnings before any competition prize of that day."""
        rows = await self.ctx.ledger.top_daily(channel, day, EARNINGS, READ_LIMIT)
        r = tables.prizes
        async with self.ctx.db.connect() as conn:
            paid = await conn.execute(sa.select(r.c.user_key, sa.func.sum(r.c.amount).label("n"))
                                      .where(r.c.channel == channel, r.c.day == day)
                                      .group_by(r.c.user_key))
            prizes = {row.user_key: int(row.n) for row in paid}
        return judge.without([Standing(name, value) for name, value in rows], prizes)

    async def _standings(self, channel: str, day: date,
                         fields: set[str]) -> dict[str, list[Standing]]:
        """Each field's values on ``day`` of the eligible users (read before paying)."""
        out: dict[str, list[Standing]] = {}
        for field in sorted(fields):
            if field == EARNINGS:
                found = await self._earnings(channel, day)
            else:
                rows = await self.ctx.ledger.top_daily(channel, day, field, READ_LIMIT)
                found = [Standing(name, value) for name, value in rows]
            out[field] = [s for s in found if self._eligible(channel, s.username)]
        return out

    async def settle(self, channel: str, day: date, comp: Competition,
                     prizes: Sequence[tuple[str, int]],
                     standings: dict[str, list[Standing]]) -> Settled | None:
        """Pay one competition's prizes with its claim, in one transaction; None when it was
        settled for ``day`` already (nothing moves)."""
        values = {s.key: s.value for s in standings[comp.condition.field]}
        awards = [Award(username=name, amount=amount, type=POSTING_TYPE, kind=Kind.EARN,
                        reason=comp.description[:200], trigger_id=f"competition.{comp.id}",
                        metadata={"day": day.isoformat(), "field": comp.condition.field,
                                  "value": values.get(user_key(name), 0)})
                  for name, amount in prizes if amount > 0]
        r, p = tables.runs, tables.prizes

        async def write(tx: LedgerTx) -> Settled | None:
            claimed = await tx.conn.execute(sa.select(r.c.winners).where(
                r.c.channel == channel, r.c.day == day, r.c.competition == comp.id))
            if claimed.first() is not None:
                return None
            paid: list[tuple[str, int]] = []
            if awards:
                result = await tx.credit_many(channel, awards)
                paid = [(posting.username, posting.amount) for posting in result.postings]
            if paid:
                await tx.conn.execute(p.insert(), [
                    {"channel": channel, "day": day, "competition": comp.id,
                     "user_key": user_key(name), "username": name, "amount": amount}
                    for name, amount in paid])
            await tx.conn.execute(r.insert().values(
                channel=channel, day=day, competition=comp.id, winners=len(paid),
                total=sum(a for _, a in paid), at=tx.now))
            return Settled(comp, day, tuple(paid))

        settled = await self.ctx.ledger.atomic(write)
        if settled is None:
            return None
        for name, amount in settled.paid:
            self._prizes_metric.inc({"competition": comp.id})
            self.ctx.outbox.notify(channel, name, render(
                self.cfg.winner_message, f"🏆 +{self.ctx.format_amount(amount)}",
                description=comp.description, amount=amount,
                currency=self.ctx.currency_word(amount), user=name, id=comp.id))
        self.ctx.log.info("competition %r in %s for %s: %d winner(s)", comp.id, channel, day,
                          len(settled.paid))
        return settled

    async def _tell(self, channel: str, day: date, settled: Sequence[Settled]) -> None:
        """One public line with the winners of this run (nothing when nobody won)."""
        parts = []
        for s in settled:
            if not s.paid:
                continue
            names = [name for name, _ in s.paid]
            shown = ", ".join(names[:SUMMARY_NAMES])
            if len(names) > SUMMARY_NAMES:
                shown += f" +{len(names) - SUMMARY_NAMES} more"
            amounts = {amount for _, amount in s.paid}
            prize = (f" (+{self.ctx.format_amount(amounts.pop())})" if len(amounts) == 1
                     else "")
            parts.append(f"{s.competition.description} — {shown}{prize}")
        if parts and self.cfg.announce:
            await say(self.ctx, channel, public.CHAMPIONS, self.cfg.announce_message,
                      fallback=f"🏆 Today's winners: {' · '.join(parts)}",
                      winners=" · ".join(parts), day=day.isoformat())

    # -- what users can ask ---------------------------------------------------------------------

    @command("competitions", help="Today's competitions (judged at 23:59) and where you stand")
    async def competitions(self, call: CommandCall) -> str:
        listed = [c for c in self.cfg.daily
                  if c.enabled and not c.hidden and c.id not in self.missing]
        if not listed:
            return "🏆 No daily competitions right now."
        day = call.at.astimezone(self.ctx.tz).date()
        mine = await self.ctx.ledger.daily(call.channel, call.username, day)
        lines = [f"🏆 Daily competitions (judged at {RUN_AT.strftime('%H:%M')}):"]
        for comp in listed:
            lines.append(f"• {comp.description} → {self._prize_text(comp)} "
                         f"(you: {mine.get(comp.condition.field, 0)})")
        return "\n".join(lines)

    def _prize_text(self, comp: Competition) -> str:
        if comp.reward is not None:
            return self.ctx.format_amount(comp.reward)
        return f"{comp.reward_percent_of_earnings:g} % of that day's earnings"

    @hookimpl
    def economy_reward_lines(self, channel: str) -> list[str]:
        if not any(c.enabled and not c.hidden for c in self.cfg.daily):
            return []
        return ["Daily competitions at 23:59: PM competitions to see them"]
