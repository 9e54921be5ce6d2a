"""Channel heists: ``heist <wager>`` by PM, others say ``join`` in public chat.

Life of a heist (a ``gambling_heists`` row and one ``gambling_heist_crew`` row + escrow per
member):

1. ``heist <wager>``: the channel must be free (the per-channel lock of channel-wide games) and out
   of its cooldown; the initiator passes the validation chain; escrow + heist row + crew row in one
   transaction; the start is announced and a scheduler job ends the join window.
2. ``join`` in public chat while the window is open: the same validation chain at the same buy-in;
   the heist row is claimed (``crew_size + 1 WHERE status='open' AND crew_size < max``) in the
   transaction that escrows the joiner's buy-in. Refusals are PM'd; a stray ``join`` with no heist
   forming is ignored; PM ``heist join`` explains.
3. Window end: ONE transaction claims the row (``WHERE status='open'``) and either refunds every
   buy-in (crew below ``min_participants``: status ``short``) or rolls once for the crew and
   releases each escrow with its payout (status ``settled``). Then a flavour line, a pause of
   :data:`OUTCOME_PAUSE_SECONDS` (a scheduler job, no sleep) and the outcome lines (the outbox
   paces them); each member gets a PM.
4. Telling: the row's ``told_at`` is set when the outcome is handed to the outbox — in the
   window-end transaction for a refund (told at once), by a conditional claim (``WHERE told_at
   IS NULL``) just before the reveal for a rolled heist. So each outcome is told once, and a
   restart inside the pause loses nothing: start-up (:meth:`Heists.tell_untold`) tells every
   ended heist whose ``told_at`` is still NULL, without the pause.

A heist cannot survive a restart (its crew and window live in the room): at start-up every open
heist is claimed as ``aborted`` and each buy-in refunded, and its crew is told.

Lateness: should the window job not run (it failed, or was lost), a watch job ends the heist:
it runs every :data:`WATCH_SECONDS` from :data:`OVERDUE_GRACE_SECONDS` after the window while
any heist is open, and ends each heist that much past its window (:meth:`Heists.finish_overdue`),
so a heist is settled at most ``OVERDUE_GRACE_SECONDS + WATCH_SECONDS`` (8 s) after its window
(SPEC §3.6: ≤ 10 s). The watch stops itself when no heist is open; the 60 s duel sweep also calls
:meth:`Heists.finish_overdue`, in case the watch itself is gone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs
import sqlalchemy as sa

from economy_core import Award, ChatMessage, Job, Kind, LedgerTx, inserted_id, user_key

from . import odds, stats, tables
from .announce import HEIST_CREW, HEIST_RESULT
from .channel_games import ChannelGames
from .config import GamblingConfig
from .host import Host
from .validation import (
    Refused,
    check_player,
    cooldown_text,
    disabled_text,
    rules_for,
    seconds_left,
)

OUTCOME_PAUSE_SECONDS = 6.0
"""Between the flavour line and the outcome (suspense; a scheduler job)."""
OVERDUE_GRACE_SECONDS = 3.0
"""A heist still open this long after its window is ended by the watch (or the sweep): the window
job normally gets there first."""
WATCH_SECONDS = 5.0
"""How often the watch looks for overdue heists while one is open."""
ENDED = ("settled", "short", "aborted")
JOIN_WORD = "join"

PLANNING = ("🏦 {user} is planning a heist! Buy-in {wager}. Say {word} in chat within {window}s "
            "to join the crew (1/{needed} so far).")
JOINS = "🔫 {user} joins {initiator}'s crew ({size}/{needed}).{ready}"
SHORT = "🚨 Not enough crew for {user}'s heist ({size}/{needed}): every buy-in is refunded."

FLAVOUR = (
    "🚐 The getaway van pulls up outside the vault…",
    "🔦 Flashlights off. The crew slips in through the loading dock…",
    "🧨 Someone lights a very short fuse…",
    "🕵️ The crew walks in wearing suspiciously good disguises…",
)

h = tables.heists
crew_t = tables.heist_crew


@attrs.frozen
class Heist:
    id: int
    channel: str
    initiator: str
    wager: int
    status: str
    crew_size: int
    window_ends: datetime

    @classmethod
    def from_row(cls, row: Any) -> Heist:
        return cls(int(row.id), row.channel, row.initiator, int(row.wager), row.status,
                   int(row.crew_size), row.window_ends)


@attrs.frozen
class Member:
    username: str
    wager: int
    payout: int
    balance: int


@attrs.frozen
class Outcome:
    """What the window-end transaction did."""

    heist: Heist
    result: str
    """One of short (refunded: too few), success, push, bust."""
    members: list[Member]


class Heists:
    """The heist game; see the module docstring."""

    def __init__(self, host: Host, games: ChannelGames) -> None:
        self.host = host
        self.games = games
        self._watch: Job | None = None

    @property
    def cfg(self) -> GamblingConfig:
        return self.host.ctx.config

    # -- reads ----------------------------------------------------------------------------------

    async def _heists(self, *where: Any) -> list[Heist]:
        async with self.host.ctx.db.connect() as conn:
            rows = await conn.execute(sa.select(h).where(*where).order_by(h.c.id))
            return [Heist.from_row(r) for r in rows]

    async def open_heist(self, channel: str) -> Heist | None:
        found = await self._heists(h.c.channel == channel, h.c.status == "open")
        return found[0] if found else None

    async def _cooldown_until(self, channel: str) -> datetime | None:
        async with self.host.ctx.db.connect() as conn:
            ended = (await conn.execute(
                sa.select(h.c.ended_at).where(h.c.channel == channel,
                                              h.c.status.in_(("settled", "short")))
                .order_by(h.c.ended_at.desc()).limit(1))).scalar()
        if ended is None:
            return None
        until: datetime = ended + timedelta(seconds=self.cfg.heist.cooldown_seconds)
        return until

    async def _in_crew(self, heist_id: int, username: str) -> bool:
        async with self.host.ctx.db.connect() as conn:
            return (await conn.execute(sa.select(crew_t.c.user_key).where(
                crew_t.c.heist_id == heist_id,
                crew_t.c.user_key == user_key(username)))).first() is not None

    # -- texts ----------------------------------------------------------------------------------

    def _status(self, heist: Heist) -> str:
        fmt = self.host.ctx.format_amount
        left = seconds_left(heist.window_ends, self.host.ctx.clock.now())
        return (f"🏦 {heist.initiator}'s heist is forming: buy-in {fmt(heist.wager)}, crew "
                f"{heist.crew_size}/{self.cfg.heist.min_participants}, {left}s left to say "
                f"{JOIN_WORD} in public chat.")

    async def explain(self, channel: str, usage: str) -> str:
        """PM ``heist join`` (or ``heist`` alone): how joining works, and what is forming."""
        heist = await self.open_heist(channel)
        how = f"To join a heist, say {JOIN_WORD} in public chat (not by PM) while one is forming."
        return f"{how}\n{self._status(heist)}" if heist else f"{how}\n{usage}"

    # -- start ----------------------------------------------------------------------------------

    async def start(self, channel: str, username: str, wager: int) -> str:
        ctx = self.host.ctx
        fmt = ctx.format_amount
        cfg = self.cfg.heist
        rules = rules_for(self.cfg, "heist")
        off = disabled_text(self.cfg, rules)
        if off:
            return off
        running = self.games.running(channel)
        if running is not None:
            return f"🏦 A {running} is already under way here: say {JOIN_WORD} in public chat."
        until = await self._cooldown_until(channel)
        now = ctx.clock.now()
        if until is not None and until > now:
            return cooldown_text(seconds_left(until, now))
        refusal = await check_player(ctx, channel, username, rules, wager)
        if refusal:
            return refusal
        if not await self.games.begin(channel, "heist"):
            return f"🏦 A game is already under way here: say {JOIN_WORD} in public chat."
        window = cfg.join_window_seconds

        async def open_heist(tx: LedgerTx) -> tuple[int, int]:
            if (await tx.conn.execute(sa.select(h.c.id).where(
                    h.c.channel == channel, h.c.status == "open"))).first():
                raise Refused(f"🏦 A heist is already forming: say {JOIN_WORD} in public chat.")
            held = await tx.escrow(channel, username, wager, purpose="gambling.heist",
                                   type="wager", kind=Kind.GAMBLE, reason="heist buy-in",
                                   metadata={"game": "heist"})
            if not held.ok:
                raise Refused(f"Not enough coins: you have {fmt(held.balance)}, "
                              f"the buy-in is {fmt(wager)}.")
            result = await tx.conn.execute(h.insert().values(
                channel=channel, initiator=username, wager=wager, status="open", crew_size=1,
                started_at=tx.now, window_ends=tx.now + timedelta(seconds=window)))
            heist_id = inserted_id(result)
            await tx.conn.execute(crew_t.insert().values(
                heist_id=heist_id, user_key=user_key(username), username=username,
                escrow_id=held.escrow_id, joined_at=tx.now))
            return heist_id, held.balance

        try:
            heist_id, balance = await ctx.ledger.atomic(open_heist)
        except Refused as refused:
            self.games.end(channel)
            return refused.text
        except BaseException:
            self.games.end(channel)
            raise

        async def window_closes() -> None:
            await self.finish(heist_id)

        ctx.scheduler.once(window, window_closes, name=f"heist:{heist_id}")
        self._ensure_watch(window + OVERDUE_GRACE_SECONDS)
        await ctx.announcer.announce(
            channel, HEIST_CREW, PLANNING, user=username, wager=fmt(wager), word=JOIN_WORD,
            window=window, needed=cfg.min_participants)
        return (f"🏦 Heist planned: your {fmt(wager)} buy-in is held. The crew has {window}s to "
                f"gather in chat. Balance: {fmt(balance)}")

    # -- join -----------------------------------------------------------------------------------

    async def on_chat(self, event: ChatMessage) -> None:
        """A public chat line: exactly ``join`` joins the forming heist; anything else, or a
        ``join`` with no heist forming, is ignored."""
        if event.text.strip().casefold() != JOIN_WORD:
            return
        heist = await self.open_heist(event.channel)
        if heist is None:
            return
        text = await self.join(heist, event.username)
        self.host.ctx.outbox.notify(event.channel, event.username, text, transactional=True)

    async def join(self, heist: Heist, username: str) -> str:
        """Join ``heist``; returns the PM for the joiner (a confirmation or the refusal)."""
        ctx = self.host.ctx
        fmt = ctx.format_amount
        cfg = self.cfg.heist
        channel = heist.channel
        if await self._in_crew(heist.id, username):
            return "🏦 You're already in the crew."
        if ctx.clock.now() >= heist.window_ends:
            return "🏦 Too late: the crew has already left."
        if heist.crew_size >= cfg.max_participants:
            return f"🏦 The crew is full ({cfg.max_participants})."
        refusal = await check_player(ctx, channel, username, rules_for(self.cfg, "heist"),
                                     heist.wager)
        if refusal:
            return f"🏦 You can't join the heist: {refusal}"
        limit = cfg.max_participants

        async def sign_on(tx: LedgerTx) -> tuple[int, int]:
            claimed = await tx.conn.execute(
                h.update().where(h.c.id == heist.id, h.c.status == "open",
                                 h.c.crew_size < limit)
                .values(crew_size=h.c.crew_size + 1))
            if claimed.rowcount != 1:
                raise Refused("🏦 Too late: the crew is full or has already left.")
            if (await tx.conn.execute(sa.select(crew_t.c.user_key).where(
                    crew_t.c.heist_id == heist.id,
                    crew_t.c.user_key == user_key(username)))).first():
                raise Refused("🏦 You're already in the crew.")
            held = await tx.escrow(channel, username, heist.wager, purpose="gambling.heist",
                                   type="wager", kind=Kind.GAMBLE, reason="heist buy-in",
                                   metadata={"game": "heist", "heist_id": heist.id})
            if not held.ok:
                raise Refused(f"🏦 You can't join the heist: you have {fmt(held.balance)}, "
                              f"the buy-in is {fmt(heist.wager)}.")
            await tx.conn.execute(crew_t.insert().values(
                heist_id=heist.id, user_key=user_key(username), username=username,
                escrow_id=held.escrow_id, joined_at=tx.now))
            size = (await tx.conn.execute(sa.select(h.c.crew_size)
                                          .where(h.c.id == heist.id))).scalar_one()
            return int(size), held.balance

        try:
            size, balance = await ctx.ledger.atomic(sign_on)
        except Refused as refused:
            return refused.text
        ready = " Ready to go!" if size == cfg.min_participants else ""
        await ctx.announcer.announce(channel, HEIST_CREW, JOINS, people=("user", "initiator"),
                                     user=username, initiator=heist.initiator, size=size,
                                     needed=cfg.min_participants, ready=ready)
        return (f"🏦 You're in the crew: {fmt(heist.wager)} buy-in held. "
                f"Balance: {fmt(balance)}")

    # -- the window ends ------------------------------------------------------------------------

    async def finish(self, heist_id: int) -> Outcome | None:
        """Settle or refund one heist (window end); None when it was no longer open."""
        ctx = self.host.ctx
        found = await self._heists(h.c.id == heist_id)
        if not found or found[0].status != "open":
            return None
        outcome = await self._settle(found[0], aborted=False)
        if outcome is None:
            return None
        self.games.end(outcome.heist.channel)
        if outcome.result != "short":
            self.host.count_game("heist", sum(m.wager for m in outcome.members),
                                 sum(m.payout for m in outcome.members))
        await self._tell(outcome)
        ctx.log.info("heist %d in %s: %s, crew %d", heist_id, outcome.heist.channel,
                     outcome.result, len(outcome.members))
        return outcome

    async def finish_overdue(self) -> None:
        """End heists still open :data:`OVERDUE_GRACE_SECONDS` after their window (all
        channels): their window job did not run."""
        cutoff = self.host.ctx.clock.now() - timedelta(seconds=OVERDUE_GRACE_SECONDS)
        for heist in await self._heists(h.c.status == "open", h.c.window_ends <= cutoff):
            await self.finish(heist.id)

    def _ensure_watch(self, first_in: float) -> None:
        """Make sure the watch runs ``first_in`` seconds from now at the latest (one job for
        every channel; an existing one that is due later is replaced)."""
        scheduler = self.host.ctx.scheduler
        due = self.host.ctx.clock.now() + timedelta(seconds=first_in)
        watch = self._watch
        if watch is not None and not watch.cancelled:
            if watch.next_due <= due:
                return
            watch.cancel()
        self._watch = scheduler.every(WATCH_SECONDS, self._watch_tick, name="heist:watch",
                                      first_in=first_in)

    async def _watch_tick(self) -> None:
        """End overdue heists; stop watching once no heist is open."""
        await self.finish_overdue()
        if not await self._heists(h.c.status == "open") and self._watch is not None:
            self._watch.cancel()
            self._watch = None

    async def abort_open(self) -> int:
        """Start-up: refund every heist left open by the last run and tell its crew."""
        count = 0
        for heist in await self._heists(h.c.status == "open"):
            outcome = await self._settle(heist, aborted=True)
            if outcome is None:
                continue
            count += 1
            await self._announce(outcome)
        return count

    async def tell_untold(self) -> int:
        """Start-up: tell each ended heist's outcome that nobody was told (the last run stopped
        during the suspense pause); returns how many. Each is claimed first, so it is told once
        whatever runs beside it."""
        count = 0
        for heist in await self._heists(h.c.status.in_(ENDED), h.c.told_at.is_(None)):
            outcome = await self._recorded_outcome(heist)
            if not await self._claim_telling(heist.id):
                continue
            count += 1
            self.host.ctx.log.info("heist %d in %s: telling its %s after a restart", heist.id,
                                   heist.channel, outcome.result)
            await self._announce(outcome)
        return count

    async def _recorded_outcome(self, heist: Heist) -> Outcome:
        """An ended heist's outcome as the database has it (balances as they are now)."""
        ctx = self.host.ctx
        async with ctx.db.connect() as conn:
            result = (await conn.execute(sa.select(h.c.outcome)
                                         .where(h.c.id == heist.id))).scalar()
            crew = list(await conn.execute(sa.select(crew_t).where(
                crew_t.c.heist_id == heist.id).order_by(crew_t.c.joined_at, crew_t.c.user_key)))
        refunded = heist.status != "settled"
        members = [Member(m.username, heist.wager,
                          heist.wager if refunded or m.payout is None else int(m.payout),
                          await ctx.ledger.balance(heist.channel, m.username)) for m in crew]
        return Outcome(heist, str(result or heist.status), members)

    async def _claim_telling(self, heist_id: int) -> bool:
        """Mark a heist as told; False when it already was (someone else tells it)."""

        async def run(tx: LedgerTx) -> bool:
            claimed = await tx.conn.execute(h.update().where(
                h.c.id == heist_id, h.c.told_at.is_(None)).values(told_at=tx.now))
            return bool(claimed.rowcount == 1)

        done: bool = await self.host.ctx.ledger.atomic(run)
        return done

    async def _settle(self, heist: Heist, *, aborted: bool) -> Outcome | None:
        """ONE transaction: claim the open heist, then refund everyone (aborted, or too few) or
        roll once and release every buy-in with its payout."""
        ctx = self.host.ctx
        cfg = self.cfg.heist

        async def run(tx: LedgerTx) -> Outcome | None:
            claimed = await tx.conn.execute(
                h.update().where(h.c.id == heist.id, h.c.status == "open")
                .values(status="aborted" if aborted else "settled", ended_at=tx.now))
            if claimed.rowcount != 1:
                return None
            crew = list(await tx.conn.execute(sa.select(crew_t).where(
                crew_t.c.heist_id == heist.id).order_by(crew_t.c.joined_at, crew_t.c.user_key)))
            members: list[Member] = []
            if aborted or len(crew) < cfg.min_participants:
                result = "aborted" if aborted else "short"
                for m in crew:
                    refund = await tx.refund(int(m.escrow_id), reason=f"heist {result}")
                    if not refund.ok:
                        ctx.log.warning("heist %d: escrow %s already closed", heist.id,
                                        m.escrow_id)
                    members.append(Member(m.username, heist.wager, heist.wager,
                                          await tx.balance(heist.channel, m.username)))
                await tx.conn.execute(h.update().where(h.c.id == heist.id).values(
                    status=result, outcome=result, told_at=tx.now))  # told right after
                return Outcome(heist, result, members)
            result = odds.roll_heist(cfg, self.host.rolls.roll())
            payout = odds.heist_payout(cfg, result, len(crew), heist.wager)
            for m in crew:
                awards = [Award(m.username, payout, type="gamble_win", kind=Kind.GAMBLE,
                                trigger_id="gambling.heist", reason=f"heist {result}",
                                metadata={"game": "heist", "heist_id": heist.id,
                                          "outcome": result, "crew": len(crew)})
                          ] if payout > 0 else []
                done = await tx.release(int(m.escrow_id), payouts=awards, reason="heist")
                paid = payout if done.ok else 0
                if not done.ok:
                    ctx.log.warning("heist %d: escrow %s already closed", heist.id, m.escrow_id)
                await tx.conn.execute(crew_t.update().where(
                    crew_t.c.heist_id == heist.id, crew_t.c.user_key == m.user_key)
                    .values(payout=paid))
                await stats.record(tx.conn, heist.channel, m.username, "heist", heist.wager,
                                   paid)
                members.append(Member(m.username, heist.wager, paid,
                                      await tx.balance(heist.channel, m.username)))
            await tx.conn.execute(h.update().where(h.c.id == heist.id).values(outcome=result))
            return Outcome(heist, result, members)

        found: Outcome | None = await ctx.ledger.atomic(run)
        return found

    # -- telling --------------------------------------------------------------------------------

    async def _tell(self, outcome: Outcome) -> None:
        """At window end: a refund is told at once (its ``told_at`` was set in the window-end
        transaction); a rolled heist gets the flavour line now and the reveal after the pause."""
        ctx = self.host.ctx
        heist = outcome.heist
        if outcome.result == "short":
            await self._announce(outcome)
            return

        async def reveal() -> None:
            if await self._claim_telling(heist.id):
                await self._announce(outcome)

        if self.cfg.heist.announce_public:
            await ctx.announcer.announce(heist.channel, HEIST_RESULT,
                                         self.host.rolls.pick(FLAVOUR))
        ctx.scheduler.once(OUTCOME_PAUSE_SECONDS, reveal, name=f"heist:{heist.id}:outcome")

    async def _announce(self, outcome: Outcome) -> None:
        """Queue an outcome's chat lines (when ``announce_public``) and each member's PM."""
        ctx = self.host.ctx
        fmt = ctx.format_amount
        cfg = self.cfg.heist
        heist = outcome.heist
        channel = heist.channel
        public = cfg.announce_public
        if outcome.result == "aborted":
            for m in outcome.members:
                ctx.outbox.notify(channel, m.username, (
                    f"🏦 The bot restarted while {heist.initiator}'s heist was forming: your "
                    f"{fmt(m.wager)} buy-in is refunded. Balance: {fmt(m.balance)}"),
                    transactional=True)
            return
        if outcome.result == "short":
            if public:
                await ctx.announcer.announce(channel, HEIST_RESULT, SHORT,
                                             user=heist.initiator, size=len(outcome.members),
                                             needed=cfg.min_participants)
            for m in outcome.members:
                ctx.outbox.notify(channel, m.username, (
                    f"🏦 The heist didn't go (not enough crew): your {fmt(m.wager)} is back. "
                    f"Balance: {fmt(m.balance)}"), transactional=True)
            return
        if public:  # one line: its two halves would otherwise be merged apart
            await ctx.announcer.announce(channel, HEIST_RESULT, "{line}",
                                         line=" ".join(self._outcome_lines(outcome)))
        for m in outcome.members:
            ctx.outbox.notify(channel, m.username, self._member_note(outcome.result, m),
                              transactional=True)

    def _outcome_lines(self, outcome: Outcome) -> list[str]:
        fmt = self.host.ctx.format_amount
        crew = len(outcome.members)
        each = outcome.members[0].payout if outcome.members else 0
        names = ", ".join(m.username for m in outcome.members)
        if outcome.result == "success":
            return [f"💰 The heist worked! The crew of {crew} cracked the vault.",
                    f"💰 {names}: {fmt(each)} each."]
        if outcome.result == "push":
            fee = self.cfg.heist.push_fee_pct
            return ["😬 The alarm went off halfway: the crew got out with their buy-ins…",
                    f"😬 …minus a {fee:.0%} cut for the getaway driver: {names} get "
                    f"{fmt(each)} back each."]
        wager = outcome.heist.wager
        return ["🚔 Busted! The police were waiting.",
                f"🚔 {names} lost their {fmt(wager)} buy-ins."]

    def _member_note(self, result: str, m: Member) -> str:
        fmt = self.host.ctx.format_amount
        net = m.payout - m.wager
        if result == "success":
            return (f"🏦 Heist succeeded: you get {fmt(m.payout)} (net +{fmt(net)}). "
                    f"Balance: {fmt(m.balance)}")
        if result == "push":
            return (f"🏦 Heist pushed: {fmt(m.payout)} of your {fmt(m.wager)} back. "
                    f"Balance: {fmt(m.balance)}")
        return f"🏦 Heist busted: −{fmt(m.wager)}. Balance: {fmt(m.balance)}"

