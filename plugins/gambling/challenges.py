"""Duels: ``challenge @user <wager>``, ``accept``, ``decline`` and the expiry sweep.

A duel is a ``gambling_challenges`` row plus ledger escrows:

- ``challenge`` escrows the challenger's wager and inserts the row (status ``pending``) in one
  transaction; the target is PM'd (transactional: quiet mode does not mute it).
- ``accept`` (the oldest pending duel for the sender) claims the row — ``UPDATE ... SET
  status='settled' WHERE id=? AND status='pending'`` — escrows the target's wager, rolls 50/50 and
  releases both escrows, the winner's payout on the challenger's, all in ONE transaction. If the
  claim finds no pending row (a second accept, a decline or the sweep got there first) the
  transaction is rolled back and nothing moves; if the target's escrow fails ("can't afford") the
  claim is rolled back too and the duel stays pending.
- ``decline`` and the expiry sweep claim the row as ``declined``/``expired`` and refund the
  challenger's escrow in one transaction; the loser of a race moves nothing.

So each duel is settled exactly once whatever races (RELIABILITY 28), and a restart loses
nothing: pending rows and their escrows are in the database. Each duel is refunded at its expiry
by a job of its own (scheduled when it opens, and again at start-up for duels still pending);
the sweep (once at start-up, then every :data:`SWEEP_SECONDS`) refunds any that expired while
the bot was down.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs
import sqlalchemy as sa

from economy_core import Award, Kind, LedgerTx, inserted_id, user_key

from . import announce, odds, stats, tables
from .config import GamblingConfig
from .host import Host
from .validation import Refused, check_player, disabled_text, rules_for

SWEEP_SECONDS = 60
"""How often expired duels are looked for (SPEC §3.6: a 60 s sweep)."""

c = tables.challenges


@attrs.frozen
class Challenge:
    """A snapshot of one duel row."""

    id: int
    channel: str
    challenger: str
    challenger_key: str
    target: str
    target_key: str
    wager: int
    challenger_escrow: int
    status: str
    expires_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Challenge:
        return cls(int(row.id), row.channel, row.challenger, row.challenger_key, row.target,
                   row.target_key, int(row.wager), int(row.challenger_escrow), row.status,
                   row.expires_at)


@attrs.frozen
class Settled:
    """A duel that this call settled."""

    challenge: Challenge
    accepter: str
    winner: str
    loser: str
    pot: odds.DuelPot
    balances: dict[str, int]


class Challenges:
    """The duel game; see the module docstring."""

    def __init__(self, host: Host) -> None:
        self.host = host

    @property
    def cfg(self) -> GamblingConfig:
        return self.host.ctx.config

    # -- reads ----------------------------------------------------------------------------------

    async def _select(self, *where: Any) -> list[Challenge]:
        async with self.host.ctx.db.connect() as conn:
            rows = await conn.execute(sa.select(c).where(*where)
                                      .order_by(c.c.created_at, c.c.id))
            return [Challenge.from_row(r) for r in rows]

    async def oldest_for(self, channel: str, username: str) -> Challenge | None:
        """The oldest pending duel waiting for ``username`` to answer."""
        found = await self._select(c.c.channel == channel, c.c.status == "pending",
                                   c.c.target_key == user_key(username))
        return found[0] if found else None

    async def pending(self, channel: str) -> list[Challenge]:
        return await self._select(c.c.channel == channel, c.c.status == "pending")

    # -- challenge ------------------------------------------------------------------------------

    async def _target_refusal(self, channel: str, username: str, target: str) -> str | None:
        ctx = self.host.ctx
        if await ctx.aliases.same_person(channel, username, target):
            return "🙃 You can't challenge yourself."
        unreachable = {user_key(n) for n in (*ctx.core.ignored_users, ctx.core.bot.username)}
        if user_key(target) in unreachable:
            return f"🤖 {target} can't be challenged."
        account = await ctx.ledger.account(channel, target)
        if account is None:
            return f"❓ I don't know anyone called {target} here."
        if ctx.identity.is_banned(channel, target):
            return f"⛔ {account.username} can't be challenged right now."
        return None

    async def create(self, channel: str, username: str, target: str, wager: int) -> str:
        ctx = self.host.ctx
        fmt = ctx.format_amount
        cfg = self.cfg
        rules = rules_for(cfg, "challenge")
        refusal = (disabled_text(cfg, rules)
                   or await self._target_refusal(channel, username, target)
                   or await check_player(ctx, channel, username, rules, wager))
        if refusal:
            return refusal
        account = await ctx.ledger.account(channel, target)
        assert account is not None
        name = account.username
        if account.balance < wager:
            return f"💸 {name} can't cover a {fmt(wager)} challenge right now."
        timeout = cfg.challenge.accept_timeout_seconds
        me, them = user_key(username), user_key(target)

        async def open_duel(tx: LedgerTx) -> tuple[int, int]:
            pair = sa.or_(sa.and_(c.c.challenger_key == me, c.c.target_key == them),
                          sa.and_(c.c.challenger_key == them, c.c.target_key == me))
            if (await tx.conn.execute(sa.select(c.c.id).where(
                    c.c.channel == channel, c.c.status == "pending", pair))).first():
                raise Refused(f"⚔️ There is already a challenge pending between you and {name}.")
            held = await tx.escrow(channel, username, wager, purpose="gambling.challenge",
                                   type="wager", kind=Kind.GAMBLE,
                                   reason=f"challenge vs {name}",
                                   metadata={"game": "challenge", "target": name})
            if not held.ok:
                raise Refused(f"Not enough coins: you have {fmt(held.balance)}, "
                              f"the wager is {fmt(wager)}.")
            result = await tx.conn.execute(c.insert().values(
                channel=channel, challenger=username, challenger_key=me, target=name,
                target_key=them, wager=wager, challenger_escrow=held.escrow_id,
                status="pending", created_at=tx.now,
                expires_at=tx.now + timedelta(seconds=timeout)))
            return inserted_id(result), held.balance

        try:
            duel_id, balance = await ctx.ledger.atomic(open_duel)
        except Refused as refused:
            return refused.text
        self.schedule_expiry(duel_id, ctx.clock.now() + timedelta(seconds=timeout))
        pot = odds.duel_pot(wager, cfg.challenge.rake_percent)
        ctx.outbox.notify(channel, name, (
            f"⚔️ {username} challenges you to a {fmt(wager)} coin duel: winner takes "
            f"{fmt(pot.prize)} (rake {cfg.challenge.rake_percent} %). PM accept or decline "
            f"within {timeout}s."), transactional=True)
        return (f"⚔️ Challenge sent: {name} has {timeout}s to accept your {fmt(wager)} duel "
                f"(your stake is held). Balance: {fmt(balance)}")

    # -- accept ---------------------------------------------------------------------------------

    async def accept(self, channel: str, username: str) -> str:
        ctx = self.host.ctx
        fmt = ctx.format_amount
        duel = await self.oldest_for(channel, username)
        if duel is None:
            return "No challenge is waiting for you."
        if ctx.clock.now() >= duel.expires_at:
            if await self.expire(duel, tell_target=False):  # this reply tells the target
                return (f"⌛ {duel.challenger}'s challenge expired; their stake went back to "
                        "them.")
            return await self._already_closed(duel)
        refusal = await check_player(ctx, channel, username, rules_for(self.cfg, "challenge"),
                                     duel.wager)
        if refusal:
            return f"{refusal} (The challenge stays open until it expires.)"
        try:
            settled = await self.settle(duel, username)
        except Refused as refused:
            return refused.text
        self.host.count_game("challenge", settled.pot.pot, settled.pot.prize)
        pot = settled.pot
        won = settled.winner == username
        result = "You won" if won else "You lost"
        balance = settled.balances[user_key(username)]
        challenger_balance = settled.balances[duel.challenger_key]
        ctx.outbox.notify(channel, duel.challenger, (
            f"⚔️ {username} accepted your {fmt(duel.wager)} challenge: "
            + (f"you won {fmt(pot.prize)}!" if not won else "you lost.")
            + f" Balance: {fmt(challenger_balance)}"), transactional=True)
        if self.cfg.challenge.announce_public:
            await announce.duel_line(ctx, channel, self.cfg.announcements.challenge_win,
                                     winner=settled.winner, loser=settled.loser,
                                     prize=pot.prize, wager=duel.wager, rake=pot.rake)
        return (f"⚔️ {result} the duel with {duel.challenger}! Pot {fmt(pot.pot)}, rake "
                f"{fmt(pot.rake)}: {settled.winner} takes {fmt(pot.prize)}. "
                f"Balance: {fmt(balance)}")

    async def _already_closed(self, duel: Challenge) -> str:
        """The reply to an ``accept`` that lost its duel to a decline, the sweep or another
        accept: what became of the duel (its row as it is now)."""
        found = await self._select(c.c.id == duel.id)
        status = found[0].status if found else ""
        who = duel.challenger
        if status == "declined":
            return f"🙅 You already declined {who}'s challenge."
        if status == "expired":
            return f"⌛ {who}'s challenge had already expired; their stake went back to them."
        if status == "settled":
            return f"⚔️ {who}'s challenge was already settled."
        return "That challenge was already settled, declined or expired."

    async def settle(self, duel: Challenge, accepter: str) -> Settled:
        """Claim, stake, roll and pay one duel in one transaction; :class:`Refused` (nothing
        moved) when the duel is no longer pending or the accepter cannot cover the wager."""
        ctx = self.host.ctx
        fmt = ctx.format_amount
        rake_percent = self.cfg.challenge.rake_percent
        channel = duel.channel

        async def run(tx: LedgerTx) -> Settled:
            claimed = await tx.conn.execute(
                c.update().where(c.c.id == duel.id, c.c.status == "pending")
                .values(status="settled", resolved_at=tx.now))
            if claimed.rowcount != 1:
                raise Refused("That challenge was already settled, declined or expired.")
            held = await tx.escrow(channel, accepter, duel.wager, purpose="gambling.challenge",
                                   type="wager", kind=Kind.GAMBLE,
                                   reason=f"challenge vs {duel.challenger}",
                                   metadata={"game": "challenge", "challenge_id": duel.id})
            if not held.ok:
                raise Refused(f"💸 You can't afford this {fmt(duel.wager)} challenge (you have "
                              f"{fmt(held.balance)}); it stays open until it expires.")
            challenger_wins = odds.duel_challenger_wins(self.host.rolls.roll())
            winner, loser = ((duel.challenger, accepter) if challenger_wins
                             else (accepter, duel.challenger))
            pot = odds.duel_pot(duel.wager, rake_percent)
            awards = [Award(winner, pot.prize, type="gamble_win", kind=Kind.GAMBLE,
                            trigger_id="gambling.challenge", reason=f"won a duel vs {loser}",
                            related_user=loser,
                            metadata={"game": "challenge", "challenge_id": duel.id,
                                      "pot": pot.pot, "rake": pot.rake})
                      ] if pot.prize > 0 else []
            first = await tx.release(duel.challenger_escrow, payouts=awards,
                                     reason="challenge settled")
            second = await tx.release(held.escrow_id, reason="challenge settled")
            if not (first.ok and second.ok):
                raise RuntimeError(f"challenge {duel.id}: escrow already closed "
                                   f"({first.error or second.error})")
            await tx.conn.execute(c.update().where(c.c.id == duel.id).values(
                target_escrow=held.escrow_id, winner_key=user_key(winner), prize=pot.prize,
                rake=pot.rake))
            for player in (duel.challenger, accepter):
                await stats.record(tx.conn, channel, player, "challenge", duel.wager,
                                   pot.prize if player == winner else 0)
            balances = {user_key(p): await tx.balance(channel, p)
                        for p in (duel.challenger, accepter)}
            return Settled(duel, accepter, winner, loser, pot, balances)

        result: Settled = await ctx.ledger.atomic(run)
        return result

    # -- decline, expiry ------------------------------------------------------------------------

    async def decline(self, channel: str, username: str) -> str:
        ctx = self.host.ctx
        fmt = ctx.format_amount
        duel = await self.oldest_for(channel, username)
        if duel is None:
            return "No challenge is waiting for you."
        balance = await self.close(duel, "declined")
        if balance is None:
            return "That challenge was already settled, declined or expired."
        ctx.outbox.notify(channel, duel.challenger, (
            f"🙅 {username} declined your challenge: your {fmt(duel.wager)} is back. "
            f"Balance: {fmt(balance)}"), transactional=True)
        return (f"You declined {duel.challenger}'s challenge; their {fmt(duel.wager)} went back "
                "to them.")

    async def close(self, duel: Challenge, status: str) -> int | None:
        """Claim a pending duel as ``status`` and refund the challenger, in one transaction.
        Returns the challenger's balance after the refund, or None when the duel was no longer
        pending (nothing moved)."""
        ctx = self.host.ctx

        async def run(tx: LedgerTx) -> int | None:
            claimed = await tx.conn.execute(
                c.update().where(c.c.id == duel.id, c.c.status == "pending")
                .values(status=status, resolved_at=tx.now))
            if claimed.rowcount != 1:
                return None
            refund = await tx.refund(duel.challenger_escrow, reason=f"challenge {status}")
            if not refund.ok:
                ctx.log.warning("challenge %d: escrow %d was already closed (%s)", duel.id,
                                duel.challenger_escrow, refund.error)
            balance: int = await tx.balance(duel.channel, duel.challenger)
            return balance

        result: int | None = await ctx.ledger.atomic(run)
        return result

    async def expire(self, duel: Challenge, *, tell_target: bool = True) -> bool:
        """Refund an expired duel and tell the challenger, and the target when ``tell_target``
        (``accept`` tells them in its reply instead); False (nothing moved, nobody told) when
        the duel was settled, declined or expired meanwhile."""
        ctx = self.host.ctx
        fmt = ctx.format_amount
        balance = await self.close(duel, "expired")
        if balance is None:
            return False
        ctx.outbox.notify(duel.channel, duel.challenger, (
            f"⌛ {duel.target} didn't answer your {fmt(duel.wager)} challenge in time: your "
            f"stake is back. Balance: {fmt(balance)}"), transactional=True)
        if tell_target:
            ctx.outbox.notify(duel.channel, duel.target,
                              f"⌛ {duel.challenger}'s challenge to you expired.",
                              transactional=True)
        return True

    def schedule_expiry(self, duel_id: int, expires_at: datetime) -> None:
        """Refund the duel at its expiry, unless it is settled or declined first."""
        ctx = self.host.ctx

        async def expire_now() -> None:
            found = await self._select(c.c.id == duel_id, c.c.status == "pending")
            if found:
                await self.expire(found[0])

        delay = (expires_at - ctx.clock.now()).total_seconds()
        ctx.scheduler.once(max(0.0, delay), expire_now, name=f"challenge-expiry:{duel_id}")

    async def schedule_pending(self) -> int:
        """Start-up: an expiry job for every duel still pending (returns how many)."""
        pending = await self._select(c.c.status == "pending")
        for duel in pending:
            self.schedule_expiry(duel.id, duel.expires_at)
        return len(pending)

    async def sweep(self) -> int:
        """Refund every pending duel past its expiry (all channels); returns how many."""
        now = self.host.ctx.clock.now()
        count = 0
        for duel in await self._select(c.c.status == "pending", c.c.expires_at <= now):
            count += await self.expire(duel)
        return count
