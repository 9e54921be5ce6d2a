"""Paying achievements: exactly once per user and id, whatever restarts, retries and crashes.

One ledger transaction (``ledger.atomic``) per batch: for each (user, achievement) not yet in
``achievements_earned``, the reward is credited (type ``achievement``, kind EARN, trigger
``achievement.<id>``, idempotency key ``achievements:<id>:<user key>``) and the row inserted. A
reward the onboarding minimums withhold inserts no row (the achievement stays unearned and is
checked again later); neither does a banned user's. The notification and the public line follow
the commit, once per row this transaction inserted: a crash at any commit pays, records and tells
each achievement at most once, and the next check pays one a crash kept from being paid
(thresholds are "at least").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa

from economy_core import Announcement, Kind, LedgerTx, PluginContext, chunks, render, user_key

from . import tables
from .config import Achievement, AchievementsConfig

POSTING_TYPE = "achievement"
SUMMARY = "achievements"
"""What folded public lines are called ("…and 3 more achievements")."""


@attrs.frozen
class Earned:
    """An achievement a user just earned (committed)."""

    username: str
    achievement: Achievement
    paid: int
    at: datetime


ANNOUNCEMENT = Announcement("achievement_milestone", "a user unlocks an achievement", SUMMARY)
"""The kind of public line this plugin posts (declared in its contract; SPEC §2.6's gate)."""


async def say(ctx: PluginContext[Any], channel: str, template: str, fallback: str,
              **values: Any) -> None:
    """Every public line of the achievements plugin goes out here, through the announcer
    (``{user}`` shown with the user's title)."""
    await ctx.announcer.announce(channel, ANNOUNCEMENT.kind, template, people=("user",),
                                 fallback=fallback, **values)


async def pay(ctx: PluginContext[AchievementsConfig], channel: str,
              winners: Sequence[tuple[str, Achievement]]) -> list[Earned]:
    """Record and pay ``winners`` (username, achievement) in one transaction; returns what this
    call earned (already earned ones and withheld rewards are left out)."""
    if not winners:
        return []

    async def write(tx: LedgerTx) -> list[Earned]:
        e = tables.earned
        keys = sorted({user_key(name) for name, _ in winners})
        done: set[tuple[str, str]] = set()
        for part in chunks(keys):
            result = await tx.conn.execute(sa.select(e.c.user_key, e.c.achievement).where(
                e.c.channel == channel, e.c.user_key.in_(part)))
            done.update((row.user_key, row.achievement) for row in result)
        out: list[Earned] = []
        for name, achievement in winners:
            key = user_key(name)
            if (key, achievement.id) in done or ctx.identity.is_banned(channel, name):
                continue  # earned already; a banned user earns nothing (checked again later)
            paid = 0
            if achievement.reward > 0:
                credit = await tx.credit(
                    channel, name, achievement.reward, type=POSTING_TYPE, kind=Kind.EARN,
                    trigger_id=f"achievement.{achievement.id}",
                    reason=f"achievement: {achievement.description}"[:200],
                    key=f"achievements:{achievement.id}:{key}")
                if not credit.ok:
                    continue  # withheld: not earned yet
                paid = 0 if credit.replayed else achievement.reward
            await tx.conn.execute(e.insert().values(
                channel=channel, user_key=key, achievement=achievement.id, username=name,
                reward=paid, at=tx.now))
            done.add((key, achievement.id))
            out.append(Earned(name, achievement, paid, tx.now))
        return out

    earned: list[Earned] = await ctx.ledger.atomic(write)
    return earned


async def tell(ctx: PluginContext[AchievementsConfig], channel: str,
               earned: Sequence[Earned]) -> None:
    """The PM (a notification: quiet mode mutes it) and the public line of each."""
    cfg = ctx.config
    for e in earned:
        a = e.achievement
        fields = {"user": e.username, "achievement": a.id, "description": a.description,
                  "amount": e.paid, "currency": ctx.currency_word(e.paid)}
        fallback = f"🏆 Achievement unlocked: {a.description}"
        ctx.outbox.notify(channel, e.username, render(cfg.notify_message, fallback, **fields))
        if cfg.announce:
            await say(ctx, channel, cfg.announce_message,
                      f"🏆 {e.username} unlocked {a.description}!", **fields)
