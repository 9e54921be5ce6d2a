"""Streaks end to end: a real nats-server, kryten-py on both sides, the presence plugin booking
minutes, and the bot's clock running 600× (a minute every 0.1 s of real time) from 23:20 UTC, so
the simulated evening crosses midnight within seconds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from economy_plugins.streaks import Streaks

from economy_core.testing import wait_until

FAST = 600.0
START = datetime(2026, 3, 3, 23, 20, tzinfo=UTC)


async def test_fifteen_minutes_on_two_days_pays_the_streak_bonus_once(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["presence", "wallet", Streaks], users=[("alice", 1)],
                            time_scale=FAST, start=START)

    def day_two_pm() -> list[str]:
        return [m for m in env.pms_to("alice") if "Day 2 of your streak" in m]

    # alice stays in the room: 15 minutes before midnight, then 15 after it
    await wait_until(lambda: bool(day_two_pm()), 40)
    [pm] = day_two_pm()
    assert "+10 Z-Coins" in pm

    async def bonuses() -> list[Any]:
        postings = await env.app.ledger.history(env.channel, "alice", limit=100_000)
        return [p for p in postings if p.type == "streak_bonus"]

    [bonus] = await bonuses()
    assert (bonus.amount, bonus.trigger_id, bonus.metadata["day"]) == (
        10, "streak.day2", date(2026, 3, 4).isoformat())
    replies = await env.pm("alice", "balance")
    assert "Streak: 2 days" in replies[0]

    # the bot restarts the same day: nothing is paid again
    await env.restart_bot()
    plugin = env.app.plugins["streaks"].instance
    await wait_until(lambda: plugin.polls >= 5, 20)
    assert len(await bonuses()) == 1
    assert len(day_two_pm()) == 1
    assert await env.app.ledger.verify() == []
