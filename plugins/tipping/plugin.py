"""Tipping (SPEC §3.9): ``tip @user <amount>`` moves coins from the sender to another user.

**Checks, in order, before anything moves** (each refusal is a reply; nothing is charged):
tipping enabled → a whole number ≥ ``min_amount`` → not to oneself (the same name, or with
``self_tip_blocked`` a name userstats links to the sender: ``ctx.aliases.same_person``) → not to
the bot, an ignored account or a banned user → the sender known to the core for at least
``min_account_age_minutes`` (``ctx.members.first_seen``) → the recipient has an account here →
tipped today + amount ≤ ``max_per_day`` (the reply says what is left).

**One transaction** then moves the money and books the day: a ledger transfer (``tip_send`` on
the sender, ``tip_receive`` on the recipient, kind TRANSFER: neither counts as earned or spent;
debit-or-fail, so a tip never overdraws) and the sender's daily counter ``tipped`` bumped by the
amount; when the bumped total passes ``max_per_day`` the whole transaction rolls back. The
ledger's writer runs transactions one at a time, so concurrent tips from one sender can neither
overspend nor pass the cap together (the counter is ledger state written with the money: the
cap is computed from what really committed). After the commit: the recipient's PM naming sender
and amount (transactional: quiet mode does not mute it), the ``economy_tip_sent`` broadcast, and
the sender's reply with their balance and what is left today.

The request-reply endpoint ``spend.tip`` does the same for other services; its ``request_id``
is the transfer's idempotency key, so a retried request moves nothing and answers as the first.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pluggy

from economy_core import (
    MAX_AMOUNT,
    ApiError,
    ApiRequest,
    CommandCall,
    Contract,
    Counter,
    Kind,
    LedgerTx,
    PluginContext,
    PostingType,
    TxResult,
    Username,
    command,
    endpoint,
    hookimpl,
    render,
    user_key,
)

from . import hookspecs as tip_hooks
from .config import TippingConfig

SEND = "tip_send"
RECEIVE = "tip_receive"
COUNTER = "tipped"
"""The sender's daily counter: Z tipped today (bumped in the tip's own transaction)."""


class Refused(Exception):
    """A tip refused (before, or inside its rolled-back transaction); the text is the reply."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@attrs.frozen
class Tipped:
    """A committed tip (or the stored result of a repeated ``request_id``)."""

    sender: str
    recipient: str
    amount: int
    balance: int
    """The sender's balance after it."""
    recipient_balance: int
    left: int | None
    """What the sender may still tip today (None: no daily limit)."""
    replayed: bool = False


class Tipping:
    """``tip @user <amount>``; see the module docstring."""

    name = "tipping"
    Config = TippingConfig
    contract = Contract(
        posting_types=(PostingType(SEND, "tip sent", Kind.TRANSFER),
                       PostingType(RECEIVE, "tip received", Kind.TRANSFER)),
        counters=(Counter(COUNTER, "tipped today"),),
    )

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(tip_hooks)

    def __init__(self, ctx: PluginContext[TippingConfig]) -> None:
        self.ctx = ctx
        self._tips = ctx.metrics.counter("tips_total", "Tips sent")

    @property
    def cfg(self) -> TippingConfig:
        return self.ctx.config

    # -- the command ----------------------------------------------------------------------------

    @command("tip", help="Give someone coins: tip @user <amount>",
             listed=lambda self: self.cfg.enabled)
    async def tip(self, call: CommandCall, user: Username, amount: int) -> str:
        try:
            done = await self.send(call.channel, call.username, str(user), amount)
        except Refused as refused:
            return refused.text
        fmt = self.ctx.format_amount
        left = "" if done.left is None else f" · {fmt(done.left)} left to tip today"
        return (f"💸 You tipped {done.recipient} {fmt(done.amount)}. "
                f"Balance: {fmt(done.balance)}{left}")

    # -- the endpoint ---------------------------------------------------------------------------

    @endpoint("spend.tip", help="A tip between two users: username (sender), target, amount; "
                                "request_id makes a retry move nothing")
    async def spend_tip(self, request: ApiRequest) -> dict[str, Any]:
        args = request.args
        sender, target, amount = args.get("username"), args.get("target"), args.get("amount")
        if not isinstance(sender, str) or not isinstance(target, str):
            raise ApiError("username and target (user names) are required")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ApiError("amount must be a whole number")
        key = f"tip:{request.request_id}" if request.request_id else None
        try:
            done = await self.send(request.channel, sender, target.lstrip("@"), amount, key=key)
        except Refused as refused:
            raise ApiError(refused.text) from None
        return {"sender": done.sender, "recipient": done.recipient, "amount": done.amount,
                "balance": done.balance, "left_today": done.left, "replayed": done.replayed}

    # -- one tip --------------------------------------------------------------------------------

    async def send(self, channel: str, sender: str, target: str, amount: int, *,
                   key: str | None = None) -> Tipped:
        """Check, move and tell one tip; raises :class:`Refused` with the reason (nothing
        moved). ``key``: an idempotency key (a repeat returns the first tip, ``replayed``)."""
        account_name = await self._check(channel, sender, target, amount, cap=key is None)
        limit = self.cfg.max_per_day
        fmt = self.ctx.format_amount

        async def run(tx: LedgerTx) -> tuple[TxResult, int | None]:
            moved = await tx.transfer(channel, sender, account_name, amount, send_type=SEND,
                                      receive_type=RECEIVE, metadata={"trigger": "spend.tip"},
                                      key=key)
            if not moved.ok:
                raise Refused(f"Not enough coins: you have {fmt(moved.balance)}, the tip is "
                              f"{fmt(amount)}.")
            if moved.replayed:
                return moved, None
            total = await tx.bump_daily(channel, sender, tx.today, COUNTER, amount)
            if limit and total > limit:
                raise Refused(self._over_cap(limit, total - amount))
            return moved, total

        moved, total = await self.ctx.ledger.atomic(run)
        balances = dict(moved.balances)
        recipient = next((p.username for p in moved.postings if p.type == RECEIVE),
                         account_name)
        if not limit:
            left = None
        elif total is not None:
            left = max(0, limit - total)
        else:  # a repeated request_id: what is left now
            left = await self._left(channel, sender)
        done = Tipped(sender, recipient, amount, balances.get(user_key(sender), 0),
                      balances.get(user_key(account_name), 0), left, moved.replayed)
        if not moved.replayed:
            self._tips.inc({"channel": channel})
            self.ctx.outbox.notify(channel, recipient, render(
                self.cfg.received_message, f"💸 {sender} tipped you {fmt(amount)}!",
                sender=sender, amount=f"{amount:,}", currency=self.ctx.currency_word(amount),
                balance=fmt(done.recipient_balance)), transactional=True)
            await self.ctx.hooks.broadcast(tip_hooks.economy_tip_sent, channel=channel,
                                           sender=sender, recipient=recipient, amount=amount)
        return done

    def _over_cap(self, limit: int, tipped: int) -> str:
        fmt = self.ctx.format_amount
        left = max(0, limit - tipped)
        if left == 0:
            return (f"💸 You have tipped your daily limit of {fmt(limit)} today; it resets at "
                    "midnight.")
        return (f"💸 That is over your daily tipping limit of {fmt(limit)}: you can tip "
                f"{fmt(left)} more today.")

    async def _left(self, channel: str, sender: str) -> int | None:
        limit = self.cfg.max_per_day
        if not limit:
            return None
        today = self.ctx.clock.now().astimezone(self.ctx.ledger.tz).date()
        tipped = (await self.ctx.ledger.daily(channel, sender, today)).get(COUNTER, 0)
        return max(0, limit - tipped)

    async def _check(self, channel: str, sender: str, target: str, amount: int, *,
                     cap: bool) -> str:
        """Every check before the transaction, in the module docstring's order; returns the
        recipient's account name or raises :class:`Refused`."""
        cfg, ctx = self.cfg, self.ctx
        fmt = ctx.format_amount
        if not cfg.enabled:
            raise Refused("💸 Tipping is switched off here.")
        if amount < cfg.min_amount or amount > MAX_AMOUNT:
            raise Refused(f"💸 A tip is a whole number from {fmt(cfg.min_amount)} up.")
        if user_key(target) == user_key(sender):
            raise Refused("💸 You can't tip yourself.")
        if cfg.self_tip_blocked and await ctx.aliases.same_person(channel, sender, target):
            raise Refused(f"💸 You can't tip yourself: {target} is one of your names.")
        core = ctx.core
        if (user_key(target) in {user_key(n) for n in (*core.ignored_users, core.bot.username)}
                or ctx.identity.is_banned(channel, target)):
            raise Refused(f"💸 {target} can't receive tips.")
        first = await ctx.members.first_seen(channel, sender)
        need = timedelta(minutes=cfg.min_account_age_minutes)
        waited = ctx.clock.now() - first
        if waited < need:
            minutes = max(1, -(-int((need - waited).total_seconds()) // 60))
            raise Refused(f"⏳ You can tip once you have been here {cfg.min_account_age_minutes}"
                          f" minutes ({minutes} to go).")
        account = await ctx.ledger.account(channel, target)
        if account is None:
            raise Refused(f"💸 {target} has no account here yet.")
        if cap and cfg.max_per_day:
            left = await self._left(channel, sender)
            if left is not None and amount > left:
                raise Refused(self._over_cap(cfg.max_per_day, cfg.max_per_day - left))
        return account.username
