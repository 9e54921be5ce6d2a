"""The admin actions, one definition for both front-ends (PM commands and API endpoints).

Every action checks its input first (a :class:`Refused` with the reply text, nothing moved), then
does ONE thing: a ledger posting (grant ``admin_grant``, deduct ``admin_deduct``, set_balance
``admin_set_balance``, rain ``admin_rain``) or a ban state change, each carrying the admin's name
(``related_user`` and ``metadata.admin`` on postings; ``by`` on a ban). After it committed: a PM
to the target (transactional: quiet mode does not mute it) and an ``audit:`` line in the log.

**Idempotency.** An API call may carry a ``request_id``. Money actions look it up in
``admin_requests`` and record their answer there inside the ledger transaction that moves the
money (the ledger's writer runs transactions one at a time, so two racing retries cannot both
apply): a repeat returns the first answer with ``replayed: true`` and moves nothing. A ban or
unban records its answer right after the change; a repeat arriving after that gets the first
answer, one arriving before it gets "already banned" (a ban moves no money). A refused request
records nothing, so it may be retried.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa

from economy_core import (
    MAX_AMOUNT,
    ApiError,
    Award,
    Kind,
    LedgerTx,
    PluginContext,
    render,
    user_key,
)

from . import tables
from .config import AdminConfig

GRANT = "admin_grant"
DEDUCT = "admin_deduct"
SET_BALANCE = "admin_set_balance"
RAIN = "admin_rain"
RAIN_ANNOUNCEMENT = "admin_rain"
"""The announcement kind of an admin rain's public line."""

_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,20}")
MAX_REASON = 200


class Refused(ApiError):
    """An action refused before anything changed; ``text`` is the PM reply, and an endpoint lets
    it through as its API error (an :class:`ApiError`)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


Body = Callable[[LedgerTx], Awaitable[dict[str, Any]]]


def check_name(value: object) -> str:
    """A CyTube user name (a leading ``@`` dropped), or :class:`Refused`."""
    name = value.lstrip("@") if isinstance(value, str) else ""
    if not _NAME_RE.fullmatch(name):
        raise Refused(f"{str(value)[:30]!r} is not a user name" if isinstance(value, str)
                      else "a user name is required")
    return name


def check_amount(value: object, *, zero: bool = False) -> int:
    """A whole number 1 … MAX_AMOUNT (0 … MAX_AMOUNT with ``zero``), or :class:`Refused`."""
    low = 0 if zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_AMOUNT:
        raise Refused(f"the amount must be a whole number from {low} to {MAX_AMOUNT:,}")
    return value


def check_reason(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Refused("the reason must be text")
    return value.strip()[:MAX_REASON]


class Actions:
    """grant, deduct, set_balance, rain, ban, unban; see the module docstring."""

    def __init__(self, ctx: PluginContext[AdminConfig]) -> None:
        self.ctx = ctx

    # -- the request log ------------------------------------------------------------------------

    @staticmethod
    async def _stored(conn: Any, channel: str, request_id: str,
                      command: str) -> dict[str, Any] | None:
        r = tables.requests
        row = (await conn.execute(sa.select(r.c.command, r.c.reply).where(
            r.c.channel == channel, r.c.request_id == request_id))).first()
        if row is None:
            return None
        if row.command != command:
            raise Refused(f"request_id {request_id!r} was already used for {row.command}")
        reply: dict[str, Any] = json.loads(row.reply)
        return {**reply, "replayed": True}

    async def _record(self, conn: Any, channel: str, request_id: str, command: str,
                      caller: str, reply: dict[str, Any]) -> None:
        await conn.execute(tables.requests.insert().values(
            channel=channel, request_id=request_id, command=command, caller=caller,
            reply=json.dumps(reply), at=self.ctx.clock.now()))

    async def _money(self, channel: str, command: str, body: Body, *, request_id: str | None,
                     caller: str) -> dict[str, Any]:
        """Run ``body`` in one ledger transaction, guarded by ``request_id`` (module docstring).
        The answer has ``replayed`` (True: a stored answer, nothing moved now)."""

        async def run(tx: LedgerTx) -> dict[str, Any]:
            if request_id:
                stored = await self._stored(tx.conn, channel, request_id, command)
                if stored is not None:
                    return stored
            reply = await body(tx)
            if request_id:
                await self._record(tx.conn, channel, request_id, command, caller, reply)
            return {**reply, "replayed": False}

        return await self.ctx.ledger.atomic(run)

    async def _state_replay(self, channel: str, command: str,
                            request_id: str | None) -> dict[str, Any] | None:
        if not request_id:
            return None
        async with self.ctx.db.connect() as conn:
            return await self._stored(conn, channel, request_id, command)

    async def _state_record(self, channel: str, command: str, request_id: str | None,
                            caller: str, reply: dict[str, Any]) -> None:
        if request_id:
            async with self.ctx.db.begin() as conn:
                await self._record(conn, channel, request_id, command, caller, reply)

    # -- helpers ---------------------------------------------------------------------------------

    def _audit(self, action: str, channel: str, admin: str, **details: Any) -> None:
        shown = " ".join(f"{k}={v!r}" for k, v in details.items())
        self.ctx.log.info("audit: %s in %s by %s: %s", action, channel, admin, shown)

    def _tell(self, channel: str, username: str, text: str) -> None:
        self.ctx.outbox.notify(channel, username, text, transactional=True)

    def _not_a_holder(self, name: str) -> bool:
        core = self.ctx.core
        return user_key(name) in {user_key(n) for n in (*core.ignored_users, core.bot.username)}

    def _target(self, value: object) -> str:
        name = check_name(value)
        if self._not_a_holder(name):
            raise Refused(f"{name} is the bot or an ignored account: it holds no coins")
        return name

    async def _account_name(self, channel: str, name: str) -> str:
        account = await self.ctx.ledger.account(channel, name)
        if account is None:
            raise Refused(f"{name} has no account here; nothing was changed")
        return account.username

    @staticmethod
    def _because(reason: str) -> str:
        return f" ({reason})" if reason else ""

    @staticmethod
    def _meta(admin: str, via: str, request_id: str | None = None) -> dict[str, Any]:
        meta = {"admin": admin, "via": via}
        if request_id:
            meta["request_id"] = request_id
        return meta

    # -- money -----------------------------------------------------------------------------------

    async def grant(self, channel: str, admin: str, target: object, amount: object,
                    reason: object = None, *, via: str = "pm", request_id: str | None = None,
                    ) -> dict[str, Any]:
        """Credit ``amount`` (``admin_grant``; the account is created if needed). A banned user
        earns nothing, an admin's grant included."""
        name, n, why = self._target(target), check_amount(amount), check_reason(reason)
        fmt = self.ctx.format_amount
        if self.ctx.identity.is_banned(channel, name):
            raise Refused(f"{name} is banned from the economy and earns nothing: unban first; "
                          "nothing moved")

        async def body(tx: LedgerTx) -> dict[str, Any]:
            done = await tx.credit(channel, name, n, type=GRANT, kind=Kind.EARN,
                                   reason=why or "admin grant", related_user=admin,
                                   metadata=self._meta(admin, via, request_id))
            if not done.ok:
                raise Refused(f"{name} may not be paid yet ({done.error}); nothing moved")
            return {"username": done.postings[0].username, "amount": n, "balance": done.balance,
                    "reason": why, "by": admin}

        reply = await self._money(channel, "admin.grant", body, request_id=request_id,
                                  caller=via)
        if not reply["replayed"]:
            self._tell(channel, reply["username"],
                       f"💰 {admin} granted you {fmt(n)}{self._because(why)}. "
                       f"Balance: {fmt(reply['balance'])}")
            self._audit("grant", channel, admin, target=reply["username"], amount=n,
                        balance=reply["balance"], reason=why, via=via)
        return reply

    async def deduct(self, channel: str, admin: str, target: object, amount: object,
                     reason: object = None, *, via: str = "pm", request_id: str | None = None,
                     ) -> dict[str, Any]:
        """Debit-or-fail ``amount`` (``admin_deduct``): short → "insufficient", nothing moved."""
        name, n, why = check_name(target), check_amount(amount), check_reason(reason)
        fmt = self.ctx.format_amount
        account = await self._account_name(channel, name)

        async def body(tx: LedgerTx) -> dict[str, Any]:
            done = await tx.debit(channel, account, n, type=DEDUCT, kind=Kind.CORRECTION,
                                  reason=why or "admin deduction", related_user=admin,
                                  metadata=self._meta(admin, via, request_id))
            if not done.ok:
                raise Refused(f"insufficient: {account} has {fmt(done.balance)}, less than "
                              f"{fmt(n)}; nothing was deducted")
            return {"username": account, "amount": n, "balance": done.balance, "reason": why,
                    "by": admin}

        reply = await self._money(channel, "admin.deduct", body, request_id=request_id,
                                  caller=via)
        if not reply["replayed"]:
            self._tell(channel, account, f"➖ {admin} deducted {fmt(n)} from your balance"
                                         f"{self._because(why)}. Balance: "
                                         f"{fmt(reply['balance'])}")
            self._audit("deduct", channel, admin, target=account, amount=n,
                        balance=reply["balance"], reason=why, via=via)
        return reply

    async def set_balance(self, channel: str, admin: str, target: object, amount: object, *,
                          via: str = "pm", request_id: str | None = None) -> dict[str, Any]:
        """Set an existing account's balance to ``amount`` ≥ 0: the difference is one posting
        (``admin_set_balance``, a correction), read and written in one transaction."""
        name, new = check_name(target), check_amount(amount, zero=True)
        fmt = self.ctx.format_amount
        account = await self._account_name(channel, name)

        async def body(tx: LedgerTx) -> dict[str, Any]:
            old = await tx.balance(channel, account)
            diff = new - old
            meta = {**self._meta(admin, via, request_id), "old": old, "new": new}
            if diff > 0:
                await tx.credit(channel, account, diff, type=SET_BALANCE, kind=Kind.CORRECTION,
                                reason="admin set balance", related_user=admin, metadata=meta)
            elif diff < 0:
                done = await tx.debit(channel, account, -diff, type=SET_BALANCE,
                                      kind=Kind.CORRECTION, reason="admin set balance",
                                      related_user=admin, metadata=meta)
                if not done.ok:  # cannot happen: the balance was read in this transaction
                    raise RuntimeError(f"set_balance: debit of {-diff} failed")
            return {"username": account, "old": old, "new": new, "difference": diff,
                    "by": admin}

        reply = await self._money(channel, "admin.set_balance", body, request_id=request_id,
                                  caller=via)
        if not reply["replayed"] and reply["difference"]:
            self._tell(channel, account, f"⚖️ {admin} set your balance to {fmt(new)} "
                                         f"(was {fmt(reply['old'])}).")
            self._audit("set_balance", channel, admin, target=account, old=reply["old"],
                        new=new, via=via)
        return reply

    def rain_recipients(self, channel: str) -> list[str]:
        """Present users an admin rain pays: not the bot, not ignored, not banned."""
        return [u.username for u in self.ctx.rooms[channel].present()
                if not self._not_a_holder(u.username)
                and not self.ctx.identity.is_banned(channel, u.username)]

    async def rain(self, channel: str, admin: str, amount: object) -> dict[str, Any]:
        """Split ``amount`` over the k present users: each max(1, floor(n / k)) (``admin_rain``),
        in one transaction that queues the public line before it commits (so it goes out
        first); then each paid user is PM'd."""
        n = check_amount(amount)
        users = self.rain_recipients(channel)
        if not users:
            raise Refused("No users present to rain on; nothing moved.")
        each = max(1, n // len(users))
        cfg, fmt = self.ctx.config, self.ctx.format_amount
        awards = [Award(u, each, type=RAIN, kind=Kind.EARN, reason="admin rain",
                        related_user=admin, metadata={"admin": admin, "via": "pm"})
                  for u in users]

        async def body(tx: LedgerTx) -> dict[str, Any]:
            done = await tx.credit_many(channel, awards)
            paid = {p.username: p.balance_after for p in done.postings}
            if paid:
                await self.ctx.announcer.announce(
                    channel, RAIN_ANNOUNCEMENT, cfg.rain_announce_message, people=("admin",),
                    fallback=f"☔ Admin rain: {fmt(each)} each for {len(paid)} user(s)!",
                    admin=admin, count=len(paid), amount=f"{each:,}",
                    currency=self.ctx.currency_word(each))
            return {"each": each, "paid": paid}

        reply = await self.ctx.ledger.atomic(body)
        for user, balance in reply["paid"].items():
            self._tell(channel, user, render(
                cfg.rain_message, f"☔ +{fmt(each)} admin rain", admin=admin,
                amount=f"{each:,}", currency=self.ctx.currency_word(each),
                balance=fmt(balance)))
        self._audit("rain", channel, admin, amount=n, each=each, users=len(reply["paid"]))
        return reply

    # -- bans ------------------------------------------------------------------------------------

    async def ban(self, channel: str, admin: str, target: object, reason: object = None, *,
                  via: str = "pm", request_id: str | None = None) -> dict[str, Any]:
        """Ban from the economy (balance kept; earns nothing; commands refused)."""
        name, why = self._target(target), check_reason(reason)
        stored = await self._state_replay(channel, "admin.ban", request_id)
        if stored is not None:
            return stored
        changed = await self.ctx.moderation.ban(channel, name, by=admin, reason=why,
                                                at=self.ctx.clock.now())
        if not changed:
            raise Refused(f"{name} is already banned.")
        reply = {"username": name, "banned": True, "reason": why, "by": admin}
        await self._state_record(channel, "admin.ban", request_id, via, reply)
        self._tell(channel, name, f"⛔ {admin} suspended your economy access"
                                  f"{self._because(why)}. Your balance is kept.")
        self._audit("ban", channel, admin, target=name, reason=why, via=via)
        return {**reply, "replayed": False}

    async def unban(self, channel: str, admin: str, target: object, *, via: str = "pm",
                    request_id: str | None = None) -> dict[str, Any]:
        """Lift a ban."""
        name = check_name(target)
        stored = await self._state_replay(channel, "admin.unban", request_id)
        if stored is not None:
            return stored
        if not await self.ctx.moderation.unban(channel, name):
            raise Refused(f"{name} is not banned.")
        reply = {"username": name, "banned": False, "by": admin}
        await self._state_record(channel, "admin.unban", request_id, via, reply)
        self._tell(channel, name, f"✅ {admin} restored your economy access.")
        self._audit("unban", channel, admin, target=name, via=via)
        return {**reply, "replayed": False}
