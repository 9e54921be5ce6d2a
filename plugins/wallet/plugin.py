"""The wallet plugin: what a user can ask about money.

``balance`` (with rank and streak when plugins answer the profile hook with those keys, and in
the user's own currency name when one answers the key ``currency``),
``history [n]``, ``top [category]`` (other plugins add categories through the leaderboard hooks
the wallet publishes, :mod:`.hookspecs`), ``profile [@user]`` assembled from every plugin's
profile fields, and ``rewards`` assembled from every plugin's reward lines. It reads the ledger
only; it never moves money.

Endpoints (SPEC §2.7): ``balance.get`` (``found: false``, or balance, lifetime earned and
``rank_name`` from the profile hook's ``rank`` field), ``profile.get`` (the account and every
profile field) and ``leaderboard.top`` (``category``: earners/today, rich/balance,
lifetime/all; ``limit`` 1 … ``top_size``).
"""

from __future__ import annotations

from typing import Any

import attrs
import pluggy

from economy_core import (
    ApiError,
    ApiRequest,
    ArgumentError,
    Catalogue,
    CommandCall,
    PluginContext,
    Posting,
    ProfileField,
    Username,
    command,
    endpoint,
    hookimpl,
    hookspecs,
    setting,
)

from . import hookspecs as wallet_hooks

MEDALS = ("🥇", "🥈", "🥉")

CATEGORIES = {
    "earners": "today", "today": "today",
    "rich": "balance", "balance": "balance", "balances": "balance",
    "lifetime": "lifetime", "all": "lifetime",
}
"""Leaderboard words users may type → what is ranked."""


@attrs.frozen
class WalletConfig:
    history_default: int = setting(5, validator=attrs.validators.in_(range(1, 51)),
                                   help="Transactions `history` shows without a number")
    history_max: int = setting(20, validator=attrs.validators.in_(range(1, 101)),
                               help="The most transactions one `history` reply shows")
    top_size: int = setting(10, validator=attrs.validators.in_(range(1, 26)),
                            help="Entries on a leaderboard")


def describe(posting: Posting, catalogue: Catalogue) -> str:
    """A transaction as a user reads it: what it was for, in words (its reason, else the label
    the writing plugin declared for its type)."""
    what = posting.reason or catalogue.label(posting.type)
    if posting.related_user and posting.related_user.casefold() not in what.casefold():
        what += f" ({posting.related_user})"
    return what


class Wallet:
    """Balance, history, leaderboards, profiles, rewards."""

    name = "wallet"
    Config = WalletConfig

    @staticmethod
    @hookimpl
    def economy_addhooks(pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(wallet_hooks)

    def __init__(self, ctx: PluginContext[WalletConfig]) -> None:
        self.ctx = ctx

    async def _fields(self, channel: str, username: str) -> list[ProfileField]:
        answers = await self.ctx.hooks.collect(hookspecs.economy_profile_fields,
                                               channel=channel, username=username)
        fields = [f for f in answers if isinstance(f, ProfileField)]
        return sorted(fields, key=lambda f: (f.order, f.key))

    @command("balance", help="Your balance", aliases=("bal",))
    async def balance(self, call: CommandCall) -> str:
        fmt = self.ctx.format_amount
        balance = await self.ctx.ledger.balance(call.channel, call.username)
        parts = [f"💰 {call.username}: {fmt(balance)}"]
        fields = {f.key: f for f in await self._fields(call.channel, call.username)}
        if "currency" in fields:  # the user's own name for the currency (a shop item)
            parts[0] = f"💰 {call.username}: {balance:,} {fields['currency'].value}"
        if "rank" in fields:
            parts.append(f"Rank: {fields['rank'].value}")
        if "streak" in fields:
            parts.append(f"Streak: {fields['streak'].value}")
        return " · ".join(parts)

    @command("history", help="Your last transactions: history [n]")
    async def history(self, call: CommandCall, n: int | None = None) -> str:
        cfg = self.ctx.config
        count = cfg.history_default if n is None else n
        if not 1 <= count <= cfg.history_max:
            raise ArgumentError(f"n: history shows 1 to {cfg.history_max} transactions")
        postings = await self.ctx.ledger.history(call.channel, call.username, limit=count)
        if not postings:
            return "📜 No transactions yet. Stay around and chat to earn!"
        tz = self.ctx.tz
        lines = [f"📜 Your last {len(postings)}:"]
        for p in postings:
            when = p.at.astimezone(tz).strftime("%m-%d %H:%M")
            sign = "+" if p.amount > 0 else "−"
            what = describe(p, self.ctx.catalogue)
            lines.append(f"{when} {sign}{self.ctx.format_amount(abs(p.amount))} {what}")
        return "\n".join(lines)

    @command("top", help="Leaderboard: top [earners|rich|lifetime]",
             aliases=("leaderboard", "lb"))
    async def top(self, call: CommandCall, category: str | None = None) -> str:
        word = (category or "earners").lower()
        kind = CATEGORIES.get(word)
        size = self.ctx.config.top_size
        if kind is None:
            other = await self.ctx.hooks.first(wallet_hooks.economy_leaderboard,
                                               channel=call.channel, category=word, limit=size)
            if isinstance(other, str):
                return other
            words = ["earners", "today", "rich", "balance", "lifetime", "all",
                     *await self._extra_categories(call.channel)]
            return f"Usage: top [{'|'.join(words)}] (no leaderboard called {word[:20]!r})"
        fmt = self.ctx.format_amount
        if kind == "today":
            day = self.ctx.clock.local_date(self.ctx.tz)
            rows = await self.ctx.ledger.top_daily(call.channel, day, "z_earned", limit=size)
            title = "🏆 Top earners today"
        elif kind == "balance":
            rows = [(a.username, a.balance) for a in
                    await self.ctx.ledger.top(call.channel, limit=size, by="balance")]
            title = "🏆 Richest"
        else:
            rows = [(a.username, a.lifetime_earned) for a in
                    await self.ctx.ledger.top(call.channel, limit=size, by="lifetime_earned")]
            title = "🏆 Lifetime earners"
        rows = [(name, value) for name, value in rows if value > 0]
        if not rows:
            return f"{title}: nobody yet."
        lines = [f"{title}:"]
        for i, (name, value) in enumerate(rows):
            mark = MEDALS[i] if i < len(MEDALS) else f"{i + 1}."
            lines.append(f"{mark} {name} {fmt(value)}")
        return "\n".join(lines)

    async def _extra_categories(self, channel: str) -> list[str]:
        """The category words other plugins answer (leaderboard hooks), minus the wallet's."""
        answers = await self.ctx.hooks.collect(wallet_hooks.economy_leaderboard_categories,
                                               channel=channel)
        words = [str(a).lower() for a in answers if isinstance(a, str) and a.strip()]
        return sorted({w for w in words if w not in CATEGORIES})

    @command("profile", help="A user's profile: profile [@user]")
    async def profile(self, call: CommandCall, user: Username | None = None) -> str:
        who = user or call.username
        account = await self.ctx.ledger.account(call.channel, who)
        if account is None:
            return f"No account for {who} yet."
        fmt = self.ctx.format_amount
        lines = [f"👤 {account.username}",
                 f"Balance: {fmt(account.balance)}",
                 f"Earned: {fmt(account.lifetime_earned)} · Spent: {fmt(account.lifetime_spent)}"]
        for f in await self._fields(call.channel, account.username):
            lines.append(f"{f.label}: {f.value}")
        return "\n".join(lines)

    # -- endpoints ------------------------------------------------------------------------------

    @endpoint("balance.get", help="A user's balance: username → found, balance, "
                                  "lifetime_earned, rank_name")
    async def api_balance(self, request: ApiRequest) -> dict[str, Any]:
        name = request.user()
        account = await self.ctx.ledger.account(request.channel, name)
        if account is None:
            return {"found": False, "username": name}
        fields = {f.key: f for f in await self._fields(request.channel, account.username)}
        rank = fields.get("rank")
        return {"found": True, "username": account.username, "balance": account.balance,
                "lifetime_earned": account.lifetime_earned,
                "rank_name": rank.value if rank is not None else None}

    @endpoint("profile.get", help="A user's profile: username → the account's figures and "
                                  "every plugin's profile field")
    async def api_profile(self, request: ApiRequest) -> dict[str, Any]:
        name = request.user()
        account = await self.ctx.ledger.account(request.channel, name)
        if account is None:
            return {"found": False, "username": name}
        return {"found": True, "username": account.username, "balance": account.balance,
                "lifetime_earned": account.lifetime_earned,
                "lifetime_spent": account.lifetime_spent,
                "fields": [{"key": f.key, "label": f.label, "value": f.value}
                           for f in await self._fields(request.channel, account.username)]}

    @endpoint("leaderboard.top", help="A leaderboard: category (earners|rich|lifetime, default "
                                      "earners), limit → entries of username and value")
    async def api_top(self, request: ApiRequest) -> dict[str, Any]:
        word = request.args.get("category", "earners")
        kind = CATEGORIES.get(word.lower()) if isinstance(word, str) else None
        if kind is None:
            raise ApiError(f"category must be one of: {', '.join(CATEGORIES)}")
        size = self.ctx.config.top_size
        limit = request.args.get("limit", size)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= size:
            raise ApiError(f"limit must be a whole number from 1 to {size}")
        channel = request.channel
        if kind == "today":
            day = self.ctx.clock.local_date(self.ctx.tz)
            rows = await self.ctx.ledger.top_daily(channel, day, "z_earned", limit=limit)
        elif kind == "balance":
            rows = [(a.username, a.balance)
                    for a in await self.ctx.ledger.top(channel, limit=limit, by="balance")]
        else:
            rows = [(a.username, a.lifetime_earned) for a in
                    await self.ctx.ledger.top(channel, limit=limit, by="lifetime_earned")]
        return {"category": kind, "entries": [{"username": n, "value": v}
                                              for n, v in rows if v > 0]}

    @command("rewards", help="What earns what here")
    async def rewards(self, call: CommandCall) -> str:
        answers = await self.ctx.hooks.collect(hookspecs.economy_reward_lines,
                                               channel=call.channel)
        lines = [str(a) for a in answers if a]
        if not lines:
            return "Nothing pays right now."
        out = [f"🎁 Ways to earn {self.ctx.currency_word(0)}:",
               *(f"• {line}" for line in lines)]
        standing = await self.ctx.members.standing(call.channel, call.username)
        if not standing.may_earn:
            waits = []
            if standing.minutes_left:
                waits.append(f"{standing.minutes_left} more minute(s) here")
            if standing.messages_left:
                waits.append(f"{standing.messages_left} more chat line(s)")
            out.append(f"⏳ New here: you start earning after {' and '.join(waits)}.")
        return "\n".join(out)
