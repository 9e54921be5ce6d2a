"""The one validation chain of every way into a game (SPEC §3.6; G1, G2): starting a game,
joining a heist and accepting a duel all go through :func:`check_player`.

Order: gambling enabled → the game enabled → has an account → not banned → known for at least
``min_account_age_minutes`` (the core's ``first_seen``) → wager a whole number in the game's range →
balance covers it → the game's cooldown has passed → the daily limit is not reached. The first
failing step's text is the reply; nothing has moved.

The check is a read. The stake's own transaction then *takes* the cooldown and the daily slot
(:func:`take_slot`) together with the escrow, so two racing commands cannot both pass, and a
refused or rolled-back game uses neither. Cooldowns are rows in ``gambling_cooldowns``; daily
limits are the ledger's cap store (key ``gambling.<game>.daily``, reset at the day boundary); both
survive restarts.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import attrs
import sqlalchemy as sa

from economy_core import LedgerTx, PluginContext, user_key

from . import tables
from .config import GamblingConfig

GAMES = ("spin", "flip", "challenge", "heist", "free_spin")


class Refused(Exception):
    """A game cannot go ahead; ``text`` is the reply. Raised inside a ledger transaction it rolls
    the whole transaction back."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


@attrs.frozen
class GameRules:
    """What the validation chain needs to know about one game."""

    game: str
    title: str
    enabled: bool
    min_wager: int = 0
    max_wager: int = 0
    cooldown_seconds: int = 0
    daily_limit: int = 0
    """0 = no limit."""

    @property
    def cap_key(self) -> str:
        return f"gambling.{self.game}.daily"


def rules_for(cfg: GamblingConfig, game: str) -> GameRules:
    """The rules of ``game`` under ``cfg`` (every entry path asks here: one source, G2)."""
    if game == "spin":
        s = cfg.spin
        return GameRules("spin", "spin", s.enabled, s.min_wager, s.max_wager,
                         s.cooldown_seconds, s.daily_limit)
    if game == "flip":
        f = cfg.flip
        return GameRules("flip", "flip", f.enabled, f.min_wager, f.max_wager,
                         f.cooldown_seconds, f.daily_limit)
    if game == "challenge":
        c = cfg.challenge
        return GameRules("challenge", "challenge", c.enabled, c.min_wager, c.max_wager)
    if game == "heist":
        h = cfg.heist
        return GameRules("heist", "heist", h.enabled, h.min_wager, h.max_wager)
    if game == "free_spin":
        return GameRules("free_spin", "free spin", cfg.daily_free_spin.enabled)
    raise ValueError(f"unknown game {game!r}")


def seconds_left(until: datetime, now: datetime) -> int:
    """Whole seconds until ``until``, rounded up (a cooldown never shows "0s remaining")."""
    return max(1, math.ceil((until - now).total_seconds()))


def cooldown_text(seconds: int) -> str:
    return f"⏳ Cooldown: {seconds}s remaining."


def daily_text(rules: GameRules) -> str:
    plural = "" if rules.daily_limit == 1 else "s"
    return (f"📅 Daily limit reached: {rules.daily_limit} {rules.title}{plural} today. "
            "Back tomorrow!")


def disabled_text(cfg: GamblingConfig, rules: GameRules) -> str | None:
    """The chain's first steps: gambling, then the game, switched on."""
    if not cfg.enabled:
        return "🎰 Gambling is switched off here."
    if not rules.enabled:
        return f"🎰 The {rules.title} is switched off here."
    return None


async def check_player(ctx: PluginContext[GamblingConfig], channel: str, username: str,
                       rules: GameRules, wager: int | None) -> str | None:
    """The chain (see the module docstring): None when ``username`` may play, else the reply.
    ``wager`` None skips the wager and balance steps (the free spin stakes nothing)."""
    cfg = ctx.config
    fmt = ctx.format_amount
    off = disabled_text(cfg, rules)
    if off:
        return off
    account = await ctx.ledger.account(channel, username)
    if account is None:
        return "You have no account here yet: stay a while, earn some coins, then come back."
    if ctx.identity.is_banned(channel, username):
        return "⛔ Your economy access is suspended."
    need = cfg.min_account_age_minutes
    if need > 0:
        age = ctx.clock.now() - await ctx.members.first_seen(channel, username)
        short = timedelta(minutes=need) - age
        if short > timedelta(0):
            left = max(1, math.ceil(short.total_seconds() / 60))
            return (f"🕐 Gambling opens {need} minutes after you first arrive: "
                    f"{left} minute{'s' if left != 1 else ''} left.")
    if wager is not None:
        limits = f"{rules.title} wagers are {fmt(rules.min_wager)} to {fmt(rules.max_wager)}"
        if wager < rules.min_wager:
            return f"The minimum {rules.title} wager is {fmt(rules.min_wager)} ({limits})."
        if wager > rules.max_wager:
            return f"The maximum {rules.title} wager is {fmt(rules.max_wager)} ({limits})."
        if account.balance < wager:
            return (f"Not enough coins: you have {fmt(account.balance)}, "
                    f"the wager is {fmt(wager)}.")
    if rules.cooldown_seconds > 0:
        until = await cooldown_until(ctx, channel, username, rules.game)
        now = ctx.clock.now()
        if until is not None and until > now:
            return cooldown_text(seconds_left(until, now))
    if rules.daily_limit > 0:
        cap = await ctx.ledger.cap_state(channel, username, rules.cap_key)
        today = ctx.clock.now().astimezone(ctx.ledger.tz).date()
        if (cap is not None and cap.count >= rules.daily_limit
                and cap.window_start.astimezone(ctx.ledger.tz).date() == today):
            return daily_text(rules)
    return None


async def cooldown_until(ctx: PluginContext[Any], channel: str, username: str,
                         game: str) -> datetime | None:
    c = tables.cooldowns
    async with ctx.db.connect() as conn:
        row = (await conn.execute(sa.select(c.c.until).where(
            c.c.channel == channel, c.c.user_key == user_key(username),
            c.c.game == game))).first()
    return None if row is None else row.until


async def take_slot(tx: LedgerTx, channel: str, username: str, rules: GameRules) -> None:
    """Inside the stake's transaction: take the cooldown and the daily slot, or raise
    :class:`Refused` (which rolls the transaction back)."""
    if rules.cooldown_seconds > 0:
        c = tables.cooldowns
        where = (c.c.channel == channel, c.c.user_key == user_key(username),
                 c.c.game == rules.game)
        row = (await tx.conn.execute(sa.select(c.c.until).where(*where))).first()
        if row is not None and row.until > tx.now:
            raise Refused(cooldown_text(seconds_left(row.until, tx.now)))
        until = tx.now + timedelta(seconds=rules.cooldown_seconds)
        if row is None:
            await tx.conn.execute(c.insert().values(channel=channel, user_key=user_key(username),
                                                    game=rules.game, until=until))
        else:
            await tx.conn.execute(c.update().where(*where).values(until=until))
    if rules.daily_limit > 0:
        if not await tx.take_cap(channel, username, rules.cap_key, rules.daily_limit, "day"):
            raise Refused(daily_text(rules))
