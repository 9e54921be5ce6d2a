"""The figures of the admin's inspection (SPEC §3.15), from ledger aggregates, the core's
health check and what plugins contribute through the ``economy_stats`` and
``economy_profile_fields`` hooks — never from another plugin's tables.

Each function returns plain data (the API's ``data``); the ``*_lines`` functions render it for a
PM. "Today" is the ledger's day (its time zone), as daily counters are booked.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from economy_core import (
    PluginContext,
    ProfileField,
    StatsSection,
    hookspecs,
    participation_rate,
    user_key,
)

EARNED, SPENT, GAMBLED_IN, GAMBLED_OUT = "z_earned", "z_spent", "z_gambled_in", "z_gambled_out"
"""The ledger's own daily counters (kept by kind, SPEC §2.3)."""


def present_users(ctx: PluginContext[Any], channel: str) -> list[str]:
    """Users in the room now, without the bot and ignored users."""
    core = ctx.core
    skip = {user_key(n) for n in (*core.ignored_users, core.bot.username)}
    return [u.username for u in ctx.rooms[channel].present() if user_key(u.username) not in skip]


async def channel_stats(ctx: PluginContext[Any], channel: str) -> dict[str, Any]:
    """``econ:stats``: accounts, present, active today, circulation, today's earned / spent /
    gambled in / out and the net flow (earned − spent + out − in)."""
    totals = await ctx.ledger.totals(channel)
    today = ctx.clock.now().astimezone(ctx.ledger.tz).date()
    daily, active = await ctx.ledger.daily_totals(channel, today)
    earned, spent = daily.get(EARNED, 0), daily.get(SPENT, 0)
    g_in, g_out = daily.get(GAMBLED_IN, 0), daily.get(GAMBLED_OUT, 0)
    return {"channel": channel, "accounts": totals.accounts,
            "present": len(present_users(ctx, channel)), "active_today": active,
            "circulation": totals.circulation,
            "today": {"day": today.isoformat(), "earned": earned, "spent": spent,
                      "gambled_in": g_in, "gambled_out": g_out,
                      "net": earned - spent + g_out - g_in}}


async def sections(ctx: PluginContext[Any], channel: str) -> list[StatsSection]:
    """What the plugins contribute to the statistics (``economy_stats``)."""
    found = await ctx.hooks.collect(hookspecs.economy_stats, channel=channel)
    return [s for s in found if isinstance(s, StatsSection)]


def section_data(found: list[StatsSection]) -> list[dict[str, Any]]:
    return [{"title": s.title, "lines": list(s.lines), "figures": dict(s.figures)}
            for s in found]


def stats_lines(data: dict[str, Any], found: list[StatsSection],
                fmt: Callable[[int], str]) -> list[str]:
    t = data["today"]
    lines = [f"📊 {data['channel']}: {data['accounts']:,} accounts · {data['present']} present"
             f" · {data['active_today']} active today · circulation {fmt(data['circulation'])}",
             f"Today: earned {fmt(t['earned'])} · spent {fmt(t['spent'])} · gambled in "
             f"{fmt(t['gambled_in'])} / out {fmt(t['gambled_out'])} · net {t['net']:+,}"]
    for section in found:
        lines.append(f"— {section.title} —")
        lines.extend(section.lines)
    return lines


async def economic_health(ctx: PluginContext[Any], channel: str) -> dict[str, Any]:
    """``econ:health``: the core's health check plus circulation, median balance,
    participation (present users holding an account ÷ present users × 100, the same figure as
    the ``economy_participation_rate`` gauge), today's net flow ("inflationary" when it is above
    0) and what plugins add through ``economy_health_sections`` (``sections``: the digests'
    change since the last snapshot)."""
    health = await ctx.health()
    stats = await channel_stats(ctx, channel)
    holders = await ctx.ledger.holders(channel, 0)
    balances = [h.balance for h in holders]
    present = {user_key(name) for name in present_users(ctx, channel)}
    holding = len(present & {user_key(h.username) for h in holders})
    participation = participation_rate(len(present), holding) if present else None
    net = stats["today"]["net"]
    trend = "inflationary" if net > 0 else "deflationary" if net < 0 else "balanced"
    found = await ctx.hooks.collect(hookspecs.economy_health_sections, channel=channel)
    return {**health.as_dict(), "reasons": health.reasons, "channel": channel,
            "circulation": stats["circulation"],
            "median_balance": int(statistics.median(balances)) if balances else 0,
            "participation": participation, "net_flow": net, "trend": trend,
            "sections": section_data([s for s in found if isinstance(s, StatsSection)])}


def health_lines(data: dict[str, Any], fmt: Callable[[int], str]) -> list[str]:
    status = ("✅ ok: database and NATS up" if data["status"] == "ok"
              else "⚠️ degraded: " + ", ".join(data["reasons"]))
    participation = ("n/a (nobody present)" if data["participation"] is None
                     else f"{data['participation']:g}%")
    return [f"🩺 {status}",
            f"Circulation {fmt(data['circulation'])} · median balance "
            f"{fmt(data['median_balance'])} · participation {participation}",
            f"Net flow today {data['net_flow']:+,} ({data['trend']})",
            *[line for section in data["sections"] for line in section["lines"]]]


async def user_report(ctx: PluginContext[Any], channel: str,
                      name: str) -> dict[str, Any] | None:
    """``econ:user``: the account's figures, ban state, first and last activity, and every
    profile field the plugins contribute (rank, streak, achievements …); None without an
    account."""
    account = await ctx.ledger.account(channel, name)
    if account is None:
        return None
    fields = await ctx.hooks.collect(hookspecs.economy_profile_fields, channel=channel,
                                     username=account.username)
    shown = sorted((f for f in fields if isinstance(f, ProfileField)), key=lambda f: f.order)
    return {"username": account.username, "balance": account.balance,
            "lifetime_earned": account.lifetime_earned,
            "lifetime_spent": account.lifetime_spent, "gambled_in": account.gambled_in,
            "gambled_out": account.gambled_out,
            "banned": ctx.identity.is_banned(channel, account.username),
            "present": ctx.rooms[channel].is_present(account.username),
            "first_seen": account.created_at.isoformat(),
            "last_active": account.updated_at.isoformat(),
            "fields": {f.key: {"label": f.label, "value": f.value} for f in shown}}


def user_lines(data: dict[str, Any], fmt: Callable[[int], str]) -> list[str]:
    lines = [f"👤 {data['username']}: balance {fmt(data['balance'])} · lifetime earned "
             f"{fmt(data['lifetime_earned'])} / spent {fmt(data['lifetime_spent'])}",
             f"Gambled in {fmt(data['gambled_in'])} / out {fmt(data['gambled_out'])} · "
             f"banned: {'yes' if data['banned'] else 'no'} · "
             f"{'here now' if data['present'] else 'not here'}",
             f"Account since {data['first_seen'][:16]} · last balance change "
             f"{data['last_active'][:16]}"]
    lines.extend(f"{f['label']}: {f['value']}" for f in data["fields"].values())
    return lines
