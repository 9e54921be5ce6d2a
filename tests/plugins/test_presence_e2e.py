"""Presence and wallet end to end: a real nats-server, kryten-py on both sides, the bot's clock
running 600× (a tick every 0.1 s of real time)."""

from __future__ import annotations

from typing import Any

from economy_core.testing import wait_until

FAST = 600.0
CONFIG = {"plugins": {"presence": {"welcome_wallet": {"delay_seconds": 30}}}}


async def test_join_wallet_ticks_rejoin_and_restart(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["presence", "wallet"], config=CONFIG, time_scale=FAST)
    ledger = env.app.ledger

    await env.robot.add_user("alice")
    await wait_until(lambda: any("Welcome" in m for m in env.pms_to("alice")), 10)
    welcome = [m for m in env.pms_to("alice") if "Welcome" in m]
    assert len(welcome) == 1 and "100" in welcome[0]

    async def balance() -> int:
        value: int = await env.app.ledger.balance(env.channel, "alice")
        return value

    start = await balance()
    await wait_until(lambda: env.app.plugins["presence"].instance.ticks >= 5, 10)
    assert await balance() > start  # ticks pay

    replies = await env.pm("alice", "balance")
    assert replies[0].startswith("💰 alice: ")

    # leave and come back within the debounce: no second wallet, no welcome-back
    await env.robot.remove_user("alice")
    await env.robot.add_user("alice")
    await wait_until(lambda: env.app.rooms[env.channel].is_present("alice"), 5)

    # restart the bot mid-run: balances kept, one-shots not paid again
    before_restart = await balance()
    await env.restart_bot()
    ledger = env.app.ledger
    assert await ledger.balance(env.channel, "alice") >= before_restart
    await wait_until(lambda: env.app.plugins["presence"].instance.ticks >= 3, 10)
    postings = await ledger.history(env.channel, "alice", limit=100_000)
    assert [p.type for p in postings].count("welcome_wallet") == 1
    assert "welcome_back" not in [p.type for p in postings]
    assert len([m for m in env.pms_to("alice") if "Welcome" in m]) == 1
    assert await ledger.verify() == []


async def test_scenario_4_ignored_bot_gets_no_account_row_or_reply(economy_e2e: Any) -> None:
    env = await economy_e2e(plugins=["presence", "wallet"], users=[("alice", 1)],
                            time_scale=FAST)
    await env.robot.add_user("CyTubeBot")
    await env.robot.chat("CyTubeBot", "beep boop")
    await env.robot.pm("CyTubeBot", "balance")
    replies = await env.pm("alice", "balance")  # a later event: the bot's were handled first
    assert replies[0].startswith("💰 alice:")
    assert env.pms_to("CyTubeBot") == []
    assert not env.app.rooms[env.channel].is_present("CyTubeBot")
    assert len(env.app.rooms[env.channel]) == 1
    assert await env.app.ledger.account(env.channel, "CyTubeBot") is None


async def test_a_milestone_reached_around_a_restart_is_paid_once(economy_e2e: Any) -> None:
    config = {"plugins": {"presence": {"hourly_milestones": {"1": 10},
                                       "welcome_wallet": {"enabled": False}}}}
    env = await economy_e2e(plugins=["presence", "wallet"], config=config, time_scale=1200.0)
    await env.robot.add_user("alice")

    def minutes_today() -> int:
        sessions = env.app.plugins["presence"].instance.sessions[env.channel]
        session = sessions.get("alice")
        return session.minutes_today if session is not None else 0

    await wait_until(lambda: minutes_today() >= 50, 20)
    await env.restart_bot()  # before the 60th minute: the new bot restores today's minutes
    assert minutes_today() >= 50
    await wait_until(lambda: minutes_today() >= 62, 20)
    await env.restart_bot()
    await wait_until(lambda: minutes_today() >= 64, 20)
    ledger = env.app.ledger
    postings = await ledger.history(env.channel, "alice", limit=100_000)
    assert [(p.type, p.amount) for p in postings].count(("milestone", 10)) == 1
    assert len([m for m in env.pms_to("alice") if "1 hour" in m]) == 1
    assert await ledger.verify() == []
