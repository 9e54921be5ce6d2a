"""The bounties plugin: rewards users post for others to earn (SPEC §3.14).

**Posting.** ``bounty <amount> <description>`` (amount in ``min_amount``…``max_amount``,
description 1…``description_max_length`` after surrounding quotes are stripped, fewer than
``max_open_per_user`` open bounties) takes the amount into a ledger escrow (type
``bounty_create``, kind SPEND) and inserts the ``bounties_bounties`` row in ONE transaction (the
open count is checked again inside it), then replies ``#id``, the amount and the expiry, and
announces it. ``bounties`` lists up to :data:`LIST_LIMIT` open ones.

**Claiming.** Admin ``claim_bounty <id> @winner``: the bounty must exist in the channel and be
open; the winner must not be its creator (alias-aware: ``ctx.aliases.same_person``), the bot or
an ignored user, banned, or unknown here (no account and not present). One transaction claims
the row (``UPDATE ... WHERE status='open'``) and releases the escrow to the winner in full
(``bounty_claim``, kind EARN, trigger ``bounty.claim.<id>``; a fixed award, never multiplied).
Creator and winner are PM'd (transactional: quiet mode does not mute them) and it is announced.

**Expiry.** Every hour on the hour (and once at start-up) each open bounty past ``expires_at``
(in every channel the database knows) is claimed as ``expired`` and its escrow refunded in
part, in one transaction: the creator gets ``floor(amount × expiry_refund_percent / 100)`` back
and the rest is burned as a visible posting (``bounty_expired``, kind SPEND) through the
ledger's partial refund, so every balance still equals its postings and the circulation shrinks
by exactly the burned part. The creator is PM'd. A bounty already overdue when an admin claims
it expires instead.

**Exactly once.** Claim and expiry both start by claiming the row with ``WHERE
status='open'`` inside their ledger transaction, and ledger transactions take turns, so of a
claim racing the expiry exactly one moves money; the other finds the bounty closed and moves
nothing (a crash rolls back row and money together).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

import attrs
import sqlalchemy as sa

from economy_core import (
    Award,
    CommandCall,
    Contract,
    Kind,
    LedgerTx,
    PluginConnection,
    PluginContext,
    PostingType,
    Rest,
    Username,
    command,
    hookimpl,
    inserted_id,
    legacy_time,
    shown,
    user_key,
)

from . import public, tables
from .config import BountiesConfig
from .public import say

LIST_LIMIT = 15
"""Most open bounties ``bounties`` lists (SPEC §3.14)."""
LIST_TEXT = 60
"""Characters of a description ``bounties`` shows."""
PURPOSE = "bounties.bounty"
OPEN, CLAIMED, EXPIRED = "open", "claimed", "expired"

b = tables.bounties


class Refused(Exception):
    """A command that moves nothing; ``text`` is the reply."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@attrs.frozen
class Bounty:
    """A snapshot of one bounty row."""

    id: int
    channel: str
    creator: str
    creator_key: str
    description: str
    amount: int
    escrow_id: int
    status: str
    created_at: datetime
    expires_at: datetime
    winner: str | None

    @classmethod
    def from_row(cls, row: Any) -> Bounty:
        return cls(int(row.id), row.channel, row.creator, row.creator_key, row.description,
                   int(row.amount), int(row.escrow_id), row.status, row.created_at,
                   row.expires_at, row.winner)


@attrs.frozen
class Expired:
    """One bounty this call expired: what went back and what was burned."""

    bounty: Bounty
    refunded: int
    burned: int
    balance: int


def refund_share(amount: int, percent: int) -> int:
    """floor(amount × percent / 100), exactly."""
    share = Fraction(amount * percent, 100)
    return share.numerator // share.denominator


def age(delta: timedelta) -> str:
    """How long ago, as ``bounties`` shows it: minutes, hours (under two days), days."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h"
    return f"{minutes // 1440}d"


class Bounties:
    """Bounties; see the module docstring."""

    name = "bounties"
    Config = BountiesConfig
    schema = tables.schema
    contract = Contract(
        personal_data=("bounties posted (with their text)", "bounties won or resolved"),
        user_tables=tables.PERSONAL,
        posting_types=(
            PostingType("bounty_create", "bounty posted", Kind.SPEND),
            PostingType("bounty_claim", "bounty won", Kind.EARN),
            PostingType("bounty_expired", "expired bounty (burned)", Kind.SPEND),
        ),
        announcements=public.ANNOUNCEMENTS,
    )

    @hookimpl
    async def economy_import_legacy(self, channel: str, source: Any, users: Mapping[str, str],
                                    now: datetime, hold: Any,
                                    conn: PluginConnection) -> list[str]:
        """kryten-economy's open bounties → open bounties here, their amount escrowed through
        ``hold`` (it already left the creator's imported balance there). Closed ones are
        history: their postings came over with the ledger."""
        tables_there = {r[0] for r in source.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        if "bounties" not in tables_there:
            return []
        imported, skipped = 0, 0
        for row in source.execute("SELECT * FROM bounties WHERE channel = ? AND status = 'open' "
                                  "ORDER BY id", (channel,)):
            creator, amount = row["creator"], int(row["amount"] or 0)
            key = users.get(creator)
            if key is None or amount <= 0:
                skipped += 1
                continue
            description = str(row["description"] or "")[:500]
            escrow_id = await hold(creator, amount, PURPOSE, f"bounty: {description}")
            created = legacy_time(row["created_at"]) or now
            expires = (legacy_time(row["expires_at"])
                       or created + timedelta(hours=self.cfg.default_expiry_hours))
            await conn.execute(tables.bounties.insert().values(
                channel=channel, creator=creator, creator_key=key, description=description,
                amount=amount, escrow_id=escrow_id, status="open", created_at=created,
                expires_at=expires))
            imported += 1
        lines = [f"{imported} open bounty(ies), escrowed"]
        if skipped:
            lines.append(f"skipped {skipped} open bounty(ies) of users not imported or of no "
                         "amount")
        return lines

    def __init__(self, ctx: PluginContext[BountiesConfig]) -> None:
        self.ctx = ctx
        metrics = ctx.metrics
        self._created = metrics.counter("created_total", "Bounties posted")
        self._claimed = metrics.counter("claimed_total", "Bounties claimed")
        self._expired = metrics.counter("expired_total", "Bounties expired")

    @property
    def cfg(self) -> BountiesConfig:
        return self.ctx.config

    # -- life cycle -----------------------------------------------------------------------------

    @hookimpl
    async def economy_startup(self) -> None:
        self.ctx.scheduler.cron("0 * * * *", self.expire_due, name="expire")
        self.ctx.scheduler.once(0, self.expire_due, name="catch_up")

    # -- reads ----------------------------------------------------------------------------------

    async def get(self, channel: str, bounty_id: int) -> Bounty | None:
        async with self.ctx.db.connect() as conn:
            row = (await conn.execute(sa.select(b).where(b.c.id == bounty_id,
                                                         b.c.channel == channel))).first()
        return None if row is None else Bounty.from_row(row)

    async def open_bounties(self, channel: str | None = None) -> list[Bounty]:
        """Open bounties, newest first (of one channel, or all)."""
        stmt = sa.select(b).where(b.c.status == OPEN)
        if channel is not None:
            stmt = stmt.where(b.c.channel == channel)
        async with self.ctx.db.connect() as conn:
            rows = await conn.execute(stmt.order_by(b.c.id.desc()))
            return [Bounty.from_row(r) for r in rows]

    # -- posting --------------------------------------------------------------------------------

    @command("bounty", help="Post a bounty: bounty <amount> <what you want done> (the amount "
                            "is held until an admin awards it)")
    async def bounty(self, call: CommandCall, amount: int, description: Rest) -> str:
        try:
            return await self.create(call.channel, call.username, amount, description)
        except Refused as refused:
            return refused.text

    async def create(self, channel: str, username: str, amount: int, description: str) -> str:
        cfg = self.cfg
        fmt = self.ctx.format_amount
        if not cfg.enabled:
            raise Refused("📌 Bounties are switched off here.")
        if not cfg.min_amount <= amount <= cfg.max_amount:
            raise Refused(f"📌 A bounty is {fmt(cfg.min_amount)} to {fmt(cfg.max_amount)}, "
                          f"not {amount:,}.")
        text = " ".join(description.split())
        if not text:
            raise Refused("📌 Say what the bounty is for: bounty <amount> <description>")
        if len(text) > cfg.description_max_length:
            raise Refused(f"📌 The description is {len(text)} characters; at most "
                          f"{cfg.description_max_length}, please.")
        now = self.ctx.clock.now()
        expires = now + timedelta(hours=cfg.default_expiry_hours)
        key = user_key(username)

        async def write(tx: LedgerTx) -> tuple[int, int]:
            count = (await tx.conn.execute(sa.select(sa.func.count()).select_from(b).where(
                b.c.channel == channel, b.c.creator_key == key, b.c.status == OPEN))).scalar_one()
            if int(count) >= cfg.max_open_per_user:
                raise Refused(f"📌 You have {count} open bounties already (at most "
                              f"{cfg.max_open_per_user}): wait until one is claimed or expires.")
            held = await tx.escrow(channel, username, amount, purpose=PURPOSE,
                                   type="bounty_create", kind=Kind.SPEND,
                                   reason=f"bounty: {text[:150]}")
            if not held.ok:
                raise Refused(f"💸 Not enough coins: you have {fmt(held.balance)}, the bounty "
                              f"is {fmt(amount)}.")
            result = await tx.conn.execute(b.insert().values(
                channel=channel, creator=username, creator_key=key, description=text,
                amount=amount, escrow_id=held.escrow_id, status=OPEN, created_at=tx.now,
                expires_at=expires))
            return inserted_id(result), held.balance

        bounty_id, balance = await self.ctx.ledger.atomic(write)
        self._created.inc({})
        if cfg.announce:
            await say(self.ctx, channel, public.CREATED, cfg.created_message, people=("user",),
                      user=username, id=bounty_id, amount=amount,
                      currency=self.ctx.currency_word(amount), description=text)
        return (f"📌 Bounty #{bounty_id} posted: {fmt(amount)} held until "
                f"{self._when(expires)}. An admin awards it with claim_bounty {bounty_id} "
                f"@winner. Balance: {fmt(balance)}")

    def _when(self, instant: datetime) -> str:
        local = instant.astimezone(self.ctx.tz)
        return local.strftime("%a %d %b %H:%M ") + (local.tzname() or str(self.ctx.tz))

    @command("bounties", help="The open bounties")
    async def bounties(self, call: CommandCall) -> str:
        found = await self.open_bounties(call.channel)
        if not found:
            return "📌 No open bounties. Post one: bounty <amount> <description>"
        now = self.ctx.clock.now()
        lines = [f"📌 Open bounties ({len(found)}):"]
        for bounty in found[:LIST_LIMIT]:
            text = bounty.description
            if len(text) > LIST_TEXT:
                text = text[:LIST_TEXT - 1] + "…"
            lines.append(f"#{bounty.id} {self.ctx.format_amount(bounty.amount)} — {text} "
                         f"({bounty.creator}, {age(now - bounty.created_at)})")
        if len(found) > LIST_LIMIT:
            lines.append(f"…and {len(found) - LIST_LIMIT} more")
        return "\n".join(lines)

    # -- claiming -------------------------------------------------------------------------------

    @command("claim_bounty", admin=True,
             help="Admin: award a bounty to its winner: claim_bounty <id> @winner")
    async def claim_bounty(self, call: CommandCall, bounty_id: str, winner: Username) -> str:
        number = bounty_id.lstrip("#")
        if not number.isdigit() or len(number) > 12:
            return f"❓ {shown(bounty_id)} is not a bounty id (e.g. claim_bounty 3 @bob)."
        try:
            return await self.claim(call.channel, int(number), winner, call.username)
        except Refused as refused:
            return refused.text

    async def _winner(self, bounty: Bounty, winner: str) -> str:
        """The winner's display name, or :class:`Refused` (see the module docstring)."""
        ctx = self.ctx
        channel = bounty.channel
        if await ctx.aliases.same_person(channel, bounty.creator, winner):
            raise Refused(f"🙃 {bounty.creator} posted bounty #{bounty.id}: its creator can't "
                          "win it.")
        core = ctx.core
        if user_key(winner) in {user_key(n) for n in (*core.ignored_users, core.bot.username)}:
            raise Refused(f"🤖 {winner} can't win a bounty.")
        if ctx.identity.is_banned(channel, winner):
            raise Refused(f"⛔ {winner} can't win a bounty right now (economy access "
                          "suspended).")
        account = await ctx.ledger.account(channel, winner)
        if account is not None:
            return account.username
        present = ctx.rooms[channel].get(winner)
        if present is None:
            raise Refused(f"❓ I don't know anyone called {winner} here.")
        return present.username

    async def claim(self, channel: str, bounty_id: int, winner: str, admin: str) -> str:
        """Pay bounty ``bounty_id`` to ``winner`` (see the module docstring); the reply."""
        fmt = self.ctx.format_amount
        bounty = await self.get(channel, bounty_id)
        if bounty is None:
            raise Refused(f"❓ Bounty #{bounty_id} not found.")
        if bounty.status != OPEN:
            raise Refused(f"Bounty #{bounty_id} is already {bounty.status}.")
        if self.ctx.clock.now() >= bounty.expires_at:
            expired = await self.expire(bounty)
            status = "expired" if expired is not None else await self._status(bounty)
            raise Refused(f"Bounty #{bounty_id} is already {status}.")
        name = await self._winner(bounty, winner)

        async def write(tx: LedgerTx) -> int:
            claimed = await tx.conn.execute(b.update().where(
                b.c.id == bounty.id, b.c.status == OPEN).values(
                status=CLAIMED, winner=name, resolver=admin, resolved_at=tx.now))
            if claimed.rowcount != 1:
                raise Refused("")
            result = await tx.release(bounty.escrow_id, payouts=[Award(
                username=name, amount=bounty.amount, type="bounty_claim", kind=Kind.EARN,
                reason=f"bounty #{bounty.id}: {bounty.description[:150]}",
                trigger_id=f"bounty.claim.{bounty.id}", related_user=bounty.creator)])
            if not result.ok:
                raise RuntimeError(f"bounty #{bounty.id}: its escrow {bounty.escrow_id} is "
                                   f"{result.error}")
            return result.balances[user_key(name)]

        try:
            balance = await self.ctx.ledger.atomic(write)
        except Refused:
            status = await self._status(bounty)
            raise Refused(f"Bounty #{bounty_id} is already {status}.") from None
        self._claimed.inc({})
        amount = fmt(bounty.amount)
        notify = self.ctx.outbox.notify
        notify(channel, name, f"🎯 You won {bounty.creator}'s bounty #{bounty.id} "
               f"(\"{bounty.description[:LIST_TEXT]}\"): +{amount}. Balance: {fmt(balance)}",
               transactional=True)
        if user_key(bounty.creator) != user_key(admin):
            notify(channel, bounty.creator, f"🎯 Your bounty #{bounty.id} went to {name} "
                   f"({amount}).", transactional=True)
        if self.cfg.announce:
            await say(self.ctx, channel, public.CLAIMED, self.cfg.claimed_message,
                      people=("winner", "creator"), winner=name, creator=bounty.creator,
                      id=bounty.id, amount=bounty.amount,
                      currency=self.ctx.currency_word(bounty.amount),
                      description=bounty.description)
        return f"✅ Bounty #{bounty.id} ({amount}) paid to {name}."

    async def _status(self, bounty: Bounty) -> str:
        now = await self.get(bounty.channel, bounty.id)
        return now.status if now is not None else "gone"

    # -- expiry ---------------------------------------------------------------------------------

    async def expire_due(self) -> list[Expired]:
        """Expire every overdue open bounty (each on its own; a failure does not stop the
        rest)."""
        now = self.ctx.clock.now()
        done: list[Expired] = []
        for bounty in await self.open_bounties():
            if bounty.expires_at > now:
                continue
            try:
                expired = await self.expire(bounty)
            except Exception:
                self.ctx.log.exception("expiring bounty #%d failed", bounty.id)
                continue
            if expired is not None:
                done.append(expired)
        return done

    async def expire(self, bounty: Bounty) -> Expired | None:
        """Close ``bounty`` as expired, refund its share and burn the rest, in one
        transaction; None when it was no longer open (nothing moves)."""
        percent = self.cfg.expiry_refund_percent
        back = refund_share(bounty.amount, percent)

        async def write(tx: LedgerTx) -> Expired | None:
            claimed = await tx.conn.execute(b.update().where(
                b.c.id == bounty.id, b.c.status == OPEN).values(
                status=EXPIRED, resolved_at=tx.now, refunded=back))
            if claimed.rowcount != 1:
                return None
            result = await tx.refund(
                bounty.escrow_id, amount=back, burn_type="bounty_expired",
                reason=f"bounty #{bounty.id} expired: {percent} % back",
                burn_reason=f"bounty #{bounty.id} expired: {100 - percent} % burned")
            if not result.ok:
                raise RuntimeError(f"bounty #{bounty.id}: its escrow {bounty.escrow_id} is "
                                   f"{result.error}")
            return Expired(bounty, back, bounty.amount - back, result.balance)

        expired = await self.ctx.ledger.atomic(write)
        if expired is None:
            return None
        self._expired.inc({})
        fmt = self.ctx.format_amount
        burned = f", {fmt(expired.burned)} burned" if expired.burned else ""
        if bounty.channel in self.ctx.channels:  # not a channel dropped from the config
            self.ctx.outbox.notify(bounty.channel, bounty.creator, (
                f"⌛ Your bounty #{bounty.id} expired unclaimed: {fmt(expired.refunded)} back "
                f"({percent} %){burned}. Balance: {fmt(expired.balance)}"), transactional=True)
        self.ctx.log.info("bounty #%d in %s expired: %d back, %d burned", bounty.id,
                          bounty.channel, expired.refunded, expired.burned)
        return expired

    # -- what users can ask ---------------------------------------------------------------------

    @hookimpl
    def economy_reward_lines(self, channel: str) -> list[str]:
        return ["Bounties: PM bounties for the open ones; an admin pays their winners"]
